"""The lines that say what a serving process is doing: the `start` log line and
the banners on stdout (listeners, and what happens to admitted requests), and
`Stop`, the signal that ends serving and names itself in the shutdown line.

No URL is shown whole: an upstream URL may carry credentials, so only its
scheme and address appear.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any
from urllib.parse import urlsplit

from gateway import __version__
from gateway.cli.output import say
from gateway.config import Settings
from gateway.http.health import limiter_kind, store_kind
from gateway.logs import log_event

log = logging.getLogger("walletgate.lifecycle")


def upstream_address(url: str) -> str:
    """Scheme and address only: a URL may carry credentials."""
    upstream = urlsplit(url)
    return f"{upstream.scheme}://{upstream.hostname}:{upstream.port or ''}".rstrip(":")


def log_start(
    settings: Settings, command: str, public_url: str, admin_url: str, **more: Any
) -> None:
    log_event(
        log,
        logging.INFO,
        "start",
        version=__version__,
        command=command,
        mode=settings.listen.mode,
        listen=public_url,
        admin=admin_url,
        store=store_kind(settings.store.url),
        limiter=limiter_kind(settings.redis.url),
        replay=limiter_kind(settings.redis.url),
        upstream=upstream_address(settings.upstream.url),
        **more,
    )


def banner(settings: Settings, public_url: str, admin_url: str, *, bundled: bool = False) -> None:
    """The listening lines scripts read, then what the gateway does with requests
    (`bundled`: `walletgate run`, whose backend line says where it forwards)."""
    fmt = settings.log.format
    say(
        f"walletgate gateway listening on {public_url}",
        fmt,
        "listening",
        listener="gateway",
        url=public_url,
    )
    say(
        f"walletgate admin listening on {admin_url} (/metrics /healthz /readyz)",
        fmt,
        "listening",
        listener="admin",
        url=admin_url,
    )
    upstream = upstream_address(settings.upstream.url)
    if settings.listen.mode == "auth":
        say(
            f"walletgate deciding for an ingress (auth mode), order owners from {upstream}",
            fmt,
            "mode",
            mode="auth",
            upstream=upstream,
        )
    elif not bundled:
        say(f"walletgate forwarding to {upstream}", fmt, "mode", mode="proxy", upstream=upstream)


def say_stopped(settings: Settings, summary: str) -> None:
    say(f"walletgate stopped: {summary}", settings.log.format, "stopped.summary")


class Stop:
    """Set by SIGINT or SIGTERM; remembers which, for the shutdown line."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason = "stopped"
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._set, signal.Signals(signum).name)

    def _set(self, reason: str) -> None:
        self.reason = reason
        self.event.set()

    async def wait(self) -> None:
        await self.event.wait()
