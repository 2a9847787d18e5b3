"""Running the gateway: listeners, signals, and the bundled backend child.

SIGINT and SIGTERM stop the listeners, flush usage statistics and close the
store before the process exits with code 0. With `listen.workers` above 1
the serving is done by worker processes under a supervisor (`workers.py`);
each worker runs `serve_worker` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway.app import build_app
from gateway.config import Settings, worker_count
from gateway.http.admin import build_admin_app
from gateway.http.listener import GatewayRunner

BACKEND_START_TIMEOUT_S = 15.0
# The line a worker prints once its listener accepts connections.
WORKER_READY = "walletgate worker ready"

log = logging.getLogger("walletgate")


def _url(site: web.TCPSite, host: str) -> str:
    server = site._server  # aiohttp keeps the bound socket here; port 0 needs it
    port = server.sockets[0].getsockname()[1] if server and server.sockets else 0
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}"


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _on_reload(handler: Callable[[], None]) -> None:
    """SIGHUP calls `handler`; it never stops the process (the default action would)."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, handler)


def _log_reload_request() -> None:
    # The running configuration is kept: nothing in this process re-reads it yet.
    log.warning("SIGHUP received: configuration kept (reload needs a restart in this version)")


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
async def running_gateway(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """The gateway and its admin listener, up; yields (public URL, admin URL)."""
    app = build_app(settings)
    runner = _public_runner(app, settings)
    await runner.setup()
    admin_runner = web.AppRunner(build_admin_app(app), access_log=None, handle_signals=False)
    await admin_runner.setup()
    try:
        site = web.TCPSite(runner, settings.listen.host, settings.listen.port, reuse_port=False)
        await site.start()
        admin_site = web.TCPSite(admin_runner, settings.admin.host, settings.admin.port)
        await admin_site.start()
        tune_garbage_collector()
        yield _url(site, settings.listen.host), _url(admin_site, settings.admin.host)
    finally:
        await admin_runner.cleanup()
        await runner.cleanup()


def _public_runner(app: web.Application, settings: Settings) -> GatewayRunner:
    # The access log costs up to 60% of throughput: off unless asked for.
    access_log = logging.getLogger("walletgate.access") if settings.listen.access_log else None
    return GatewayRunner(app, access_log=access_log, handle_signals=False)


async def serve_gateway(settings: Settings) -> int:
    if worker_count(settings) > 1:
        from gateway.cli.workers import supervise

        return await supervise(settings)
    stop = _stop_event()
    _on_reload(_log_reload_request)
    async with running_gateway(settings) as (public_url, admin_url):
        print(f"walletgate gateway listening on {public_url}", flush=True)
        print(f"walletgate admin listening on {admin_url} (/metrics /healthz /readyz)", flush=True)
        print(f"walletgate forwarding to {settings.upstream.url}", flush=True)
        await stop.wait()
    return 0


async def serve_worker(settings: Settings) -> int:
    """One worker under the supervisor: the public listener only, on a shared port.

    The supervisor bound the port first (SO_REUSEPORT) and serves the admin
    listener; the worker says it is ready with one line on stdout.
    """
    stop = _stop_event()
    _on_reload(_log_reload_request)
    app = build_app(settings)
    runner = _public_runner(app, settings)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.listen.host, settings.listen.port, reuse_port=True)
        await site.start()
        tune_garbage_collector()
        print(WORKER_READY, flush=True)
        await stop.wait()
    finally:
        # Stops accepting, lets in-flight requests finish, flushes usage.
        await runner.cleanup()
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


async def serve_with_backend(settings: Settings) -> int:
    """`walletgate run`: the bundled backend as a child, the gateway in front."""
    stop = _stop_event()
    _on_reload(_log_reload_request)
    child, backend_url = await _start_backend(settings)
    try:
        gateway_settings = settings
        if not settings.upstream.url:
            gateway_settings = settings.replace("upstream", url=backend_url)
        if worker_count(settings) > 1:
            from gateway.cli.workers import supervise

            return await supervise(
                gateway_settings,
                stop=stop,
                also_until=child.wait(),
                banner=(f"walletgate backend listening on {backend_url}",),
            )
        async with running_gateway(gateway_settings) as (public_url, admin_url):
            print(f"walletgate gateway listening on {public_url}", flush=True)
            print(
                f"walletgate admin listening on {admin_url} (/metrics /healthz /readyz)", flush=True
            )
            print(f"walletgate backend listening on {backend_url}", flush=True)
            await asyncio.wait(
                [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(child.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
    finally:
        await _stop_backend(child)
    return 0
