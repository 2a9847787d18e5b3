"""SIGHUP: re-read the configuration and apply what can change while running.

Routes, rate limits, service keys and log settings are one `Policy`, swapped
whole on the frozen `Gateway` between two requests: a request already running
keeps what it started with, the next one sees the new values, and no
connection is touched. Everything else (listeners, store, Redis, upstream, key and
signature settings) is fixed for the life of the process: a change there is
logged as needing a restart and ignored. A file that fails to load or
validate is logged and the running configuration kept.

`reload(app, settings)` is the whole effect on one process, so a supervisor
of several workers can call it in each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import Callable
from typing import Final

from aiohttp import web

from gateway.app import service_key_hashes
from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.config import ConfigError, OnError, Settings
from gateway.http.context import GATEWAY, Policy
from gateway.logs import LogControl, log_event
from gateway.ratelimit.scopes import QuotaGate
from gateway.wallets.order_checks import compile_route_schemes

log = logging.getLogger("walletgate.reload")

# Sections a running process takes over from a re-read file (when present).
RELOADABLE: Final = ("routes", "order_schemes", "rate_limits", "service_keys", "log")

LOG_CONTROL = web.AppKey("log_control", LogControl)


@dataclasses.dataclass(frozen=True, slots=True)
class ReloadResult:
    applied: tuple[str, ...]  # sections whose values changed and now apply
    ignored: tuple[str, ...]  # keys whose change needs a restart


def _sections(settings: Settings) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(settings))


def _changed_keys(old: object, new: object, section: str) -> list[str]:
    if not dataclasses.is_dataclass(old) or isinstance(old, tuple):
        return [section] if old != new else []
    return [
        f"{section}.{f.name}"
        for f in dataclasses.fields(old)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


def compare(old: Settings, new: Settings) -> ReloadResult:
    applied, ignored = [], []
    for section in _sections(old):
        before, after = getattr(old, section), getattr(new, section)
        if section in RELOADABLE:
            if before != after:
                applied.append(section)
        else:
            ignored.extend(_changed_keys(before, after, section))
    return ReloadResult(tuple(applied), tuple(ignored))


def reload(app: web.Application, new: Settings) -> ReloadResult:
    """Apply the reloadable sections of `new` to this process's gateway."""
    gw = app[GATEWAY]
    result = compare(gw.settings, new)
    settings = dataclasses.replace(
        gw.settings, **{s: getattr(new, s) for s in RELOADABLE if s in _sections(new)}
    )
    routes = settings.routes or DEFAULT_ROUTES
    # Schemes before routes: a new route must never name a scheme not compiled yet.
    gw.authenticator.orders.use_schemes(compile_route_schemes(settings, routes))
    quotas = gw.quotas
    if "rate_limits" in result.applied:
        quotas = QuotaGate(
            gw.limiter,
            settings.rate_limits,
            gw.metrics,
            fail_open=settings.redis.on_error == OnError.OPEN,
            clock=gw.quotas.clock,
        )
    # One assignment, one step of the event loop: no request sees half of it.
    gw.apply(Policy(settings, RouteTable(routes), quotas, service_key_hashes(settings)))
    control = app.get(LOG_CONTROL)
    if control is not None:
        control.apply(settings.log)
    if result.ignored:
        log_event(
            log,
            logging.WARNING,
            "reload.restart_required",
            "changed keys need a restart; ignored",
            keys=list(result.ignored),
        )
    log_event(log, logging.INFO, "reload", applied=list(result.applied))
    return result


async def reload_from(app: web.Application, load: Callable[[], Settings]) -> ReloadResult | None:
    """Read the configuration again (off the event loop) and apply it, or keep the old."""
    try:
        new = await asyncio.to_thread(load)
    except (ConfigError, OSError, ValueError) as exc:
        log_event(log, logging.ERROR, "reload.failed", "configuration kept", reason=str(exc))
        return None
    return reload(app, new)


def install_sighup(app: web.Application, load: Callable[[], Settings]) -> None:
    """SIGHUP reloads; reloads never overlap, a signal during one runs after it."""
    lock = asyncio.Lock()
    tasks: set[asyncio.Task[None]] = set()

    async def run() -> None:
        async with lock:
            await reload_from(app, load)

    def on_signal() -> None:
        task = asyncio.get_running_loop().create_task(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_signal)
