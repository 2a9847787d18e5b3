"""Running the gateway: listeners, signals, and the bundled backend child.

SIGINT and SIGTERM stop the listeners, flush usage statistics and close every
resource (each on its own, so one that fails does not keep the others open),
print what was closed, and exit with code 0; SIGHUP reloads the configuration
(`gateway.cli.reload`). Start and shutdown are each one log line. With
`listen.workers` above 1 the serving is done by worker processes under a
supervisor (`workers.py`); each worker runs `serve_worker` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.app import SHUTDOWN, build_app
from gateway.cli.binding import start_site
from gateway.cli.lifecycle import Stop, banner, log_start, say_stopped
from gateway.cli.output import say
from gateway.cli.reload import LOG_CONTROL, install_sighup
from gateway.config import Settings, worker_count
from gateway.http.admin import build_admin_app
from gateway.http.listener import GatewayRunner
from gateway.logs import LogControl, log_event

log = logging.getLogger("walletgate.lifecycle")
Loader = Callable[[], Settings]

BACKEND_START_TIMEOUT_S = 15.0
# The line a worker prints once its listener accepts connections.
WORKER_READY = "walletgate worker ready"


def _url(site: web.TCPSite, host: str) -> str:
    server = site._server  # aiohttp keeps the bound socket here; port 0 needs it
    # asyncio's and uvloop's servers both have `sockets`; AbstractServer does not say so.
    sockets: Sequence[socket.socket] = getattr(server, "sockets", None) or ()
    port = sockets[0].getsockname()[1] if sockets else 0
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}"


@dataclasses.dataclass(frozen=True)
class UpstreamDefault:
    """A loader whose settings name `upstream` when the file names none (the
    bundled backend); picklable, for the workers."""

    load: Loader
    upstream: str

    def __call__(self) -> Settings:
        new = self.load()
        return new if new.upstream.url else new.replace("upstream", url=self.upstream)


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections for a long-running server.

    Start-up objects (modules, config, routes) are frozen out of every later
    collection, and generation 0 collects less often: per-request garbage is
    almost all freed by reference counting, so frequent young collections
    cost about 8% of the CPU under load while finding little.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, load: Loader | None = None, logs: LogControl | None = None
) -> AsyncIterator[tuple[str, str]]:
    """The gateway and its admin listener, up; yields (public URL, admin URL).

    With `load`, SIGHUP reloads from it; `logs` is changed by a reload."""
    app = build_app(settings)
    if logs is not None:
        app[LOG_CONTROL] = logs
    # The gateway writes its own access line (gateway.http.access_log), whose
    # fields aiohttp's logger cannot know; aiohttp's stays off.
    runner = GatewayRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    admin_runner = web.AppRunner(build_admin_app(app), access_log=None, handle_signals=False)
    await admin_runner.setup()
    listening = False
    try:
        listen, admin = settings.listen, settings.admin
        site = web.TCPSite(runner, listen.host, listen.port, reuse_port=False)
        await start_site(site, "listen", listen.host, listen.port)
        admin_site = web.TCPSite(admin_runner, admin.host, admin.port)
        await start_site(admin_site, "admin", admin.host, admin.port)
        listening = True
        tune_garbage_collector()
        if load is not None:
            install_sighup(app, load)
        yield _url(site, listen.host), _url(admin_site, admin.host)
    finally:
        await admin_runner.cleanup()
        await runner.cleanup()
        # A gateway that never listened did not stop: its error says what happened.
        if listening:
            say_stopped(settings, app[SHUTDOWN].summary())


async def serve_gateway(
    settings: Settings, load: Loader | None = None, logs: LogControl | None = None
) -> int:
    if worker_count(settings) > 1:
        from gateway.cli.workers import supervise

        return await supervise(settings, load=load)
    stop = Stop()
    async with running_gateway(settings, load, logs) as (public_url, admin_url):
        log_start(settings, "gateway", public_url, admin_url)
        banner(settings, public_url, admin_url)
        await stop.wait()
        log_event(log, logging.INFO, "shutdown", reason=stop.reason)
    log_event(log, logging.INFO, "stopped")
    return 0


async def serve_worker(
    settings: Settings, load: Loader | None = None, logs: LogControl | None = None, index: int = 0
) -> int:
    """One worker under the supervisor: the public listener only, on a shared port.

    The supervisor bound the port first (SO_REUSEPORT) and serves the admin
    listener; the worker says it is ready with one line on stdout. The
    supervisor forwards SIGHUP, and each worker reloads with `load`.
    """
    stop = Stop()
    app = build_app(settings)
    if logs is not None:
        app[LOG_CONTROL] = logs
    me: dict[str, Any] = {"role": "worker", "worker": index, "pid": os.getpid()}
    runner = GatewayRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        listen = settings.listen
        site = web.TCPSite(runner, listen.host, listen.port, reuse_port=True)
        await start_site(site, "listen", listen.host, listen.port)
        tune_garbage_collector()
        if load is not None:
            install_sighup(app, load)
        log_event(log, logging.INFO, "start", version=__version__, mode=listen.mode, **me)
        # Read by the supervisor only, never shown: plain text whatever the format.
        say(WORKER_READY)
        await stop.wait()
        log_event(log, logging.INFO, "shutdown", reason=stop.reason, **me)
    finally:
        # Stops accepting, lets in-flight requests finish, flushes usage.
        await runner.cleanup()
    log_event(log, logging.INFO, "stopped", **me)
    return 0


async def _start_backend(settings: Settings) -> tuple[asyncio.subprocess.Process, str]:
    backend = settings.backend
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backend",
        "--host",
        backend.host,
        "--port",
        str(backend.port),
        "--database",
        backend.database,
        # The child dies with us even after kill -9: it asks the kernel for a
        # signal when we die, and stops when the stdin pipe we hold closes.
        "--parent-pid",
        str(os.getpid()),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        # The child must not die with the terminal's Ctrl-C before we flush.
        start_new_session=True,
    )
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), BACKEND_START_TIMEOUT_S)
    except TimeoutError:
        line = b""
    text = line.decode(errors="replace").strip()
    if "http://" not in text:
        await _stop_backend(child)
        raise OSError(f"the bundled backend did not start (port {backend.port} taken?)")
    return child, text[text.index("http://") :]


async def _stop_backend(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        child.terminate()
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()


async def serve_with_backend(
    settings: Settings, load: Loader | None = None, logs: LogControl | None = None
) -> int:
    """`walletgate run`: the bundled backend as a child, the gateway in front."""
    stop = Stop()
    child, backend_url = await _start_backend(settings)
    try:
        gateway_settings = settings
        if not settings.upstream.url:
            gateway_settings = settings.replace("upstream", url=backend_url)
        # A reloaded file names no upstream either: it is still the child.
        reload_load = UpstreamDefault(load, backend_url) if load is not None else None
        if worker_count(settings) > 1:
            from gateway.cli.workers import supervise

            return await supervise(
                gateway_settings,
                load=reload_load,
                stop=stop,
                also_until=child.wait(),
                more_banner=(
                    (
                        f"walletgate backend listening on {backend_url}",
                        {"listener": "backend", "url": backend_url},
                    ),
                ),
                command="run",
            )
        async with running_gateway(gateway_settings, reload_load, logs) as (
            public_url,
            admin_url,
        ):
            log_start(gateway_settings, "run", public_url, admin_url)
            banner(gateway_settings, public_url, admin_url, bundled=True)
            say(
                f"walletgate backend listening on {backend_url}",
                settings.log.format,
                "listening",
                listener="backend",
                url=backend_url,
            )
            await asyncio.wait(
                [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(child.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            reason = stop.reason if stop.event.is_set() else "backend exited"
            log_event(log, logging.INFO, "shutdown", reason=reason)
    finally:
        await _stop_backend(child)
    log_event(log, logging.INFO, "stopped")
    return 0
