"""The supervisor of `listen.workers` > 1: N processes share the public port.

The supervisor binds the port first with SO_REUSEPORT (so port 0 resolves
once, to a port every worker then binds too) and never accepts on it: the
kernel spreads connections over the workers' listening sockets. It serves
the one admin listener itself: `/metrics` is the sum over workers, read from
prometheus_client's multiprocess files in a private directory; `/healthz`
and `/readyz` need a running worker.

A worker that dies is started again (after a pause if it died young, so a
worker that cannot start does not spin). SIGTERM and SIGINT reach every
worker as SIGTERM: each stops accepting, finishes its requests, flushes its
usage counts and exits 0; the supervisor exits 0 when all did. SIGHUP is
passed on to every worker, which reloads the configuration as the
supervisor's loader reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pickle
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector

from gateway.app import SHUTDOWN, build_app
from gateway.cli.binding import bind_error, start_site
from gateway.cli.lifecycle import Stop, banner, log_start, say_stopped
from gateway.cli.output import say
from gateway.cli.reload import reload_from
from gateway.config import Settings, worker_count
from gateway.http.admin import build_admin_app
from gateway.http.context import GATEWAY
from gateway.logs import log_event

log = logging.getLogger("walletgate.lifecycle")
SUPERVISOR = {"role": "supervisor"}

START_TIMEOUT_S = 30.0
# A worker that dies sooner than this after its start waits RESTART_PAUSE_S.
YOUNG_DEATH_S = 5.0
RESTART_PAUSE_S = 1.0
# Longer than any request may take (upstream timeout) plus the flush.
DRAIN_TIMEOUT_S = 75.0
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _tell(level: int, event: str, **fields: Any) -> None:
    """A lifecycle line of the supervisor (workers write their own, role "worker")."""
    log_event(log, level, event, **SUPERVISOR, **fields)


class WorkerStartError(OSError):
    """A worker exited before it was ready; its stderr says why."""


class Workers:
    """The worker processes: started, watched, restarted, signalled, drained."""

    def __init__(
        self, settings: Settings, count: int, metrics_dir: str, load: WorkerLoad | None = None
    ) -> None:
        self._settings = settings
        self._load = load
        self._count = count
        self._metrics_dir = metrics_dir
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        # Each worker's index (0..count-1), kept by its replacement.
        self._indexes: dict[int, int] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.registry = CollectorRegistry()
        MultiProcessCollector(self.registry, path=metrics_dir)  # type: ignore[no-untyped-call]
        ProcessCollector(registry=self.registry)

    @property
    def configured(self) -> int:
        return self._count

    def running(self) -> int:
        return sum(1 for p in self._processes.values() if p.returncode is None)

    def pids(self) -> list[int]:
        return [pid for pid, p in self._processes.items() if p.returncode is None]

    def render_metrics(self) -> bytes:
        return generate_latest(self.registry)

    async def start(self) -> None:
        """Every worker up and accepting, or WorkerStartError (the others stopped)."""
        results = await asyncio.gather(
            *(self._spawn(index) for index in range(self._count)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.stop()
            raise errors[0]

    async def _spawn(self, index: int) -> None:
        environ = {**os.environ, MULTIPROC_ENV: self._metrics_dir}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=environ,
            # Out of the terminal's process group: Ctrl-C reaches the
            # supervisor only, which stops the workers itself (a worker that
            # stopped on its own could be taken for a crash and restarted).
            start_new_session=True,
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(pickle.dumps((self._settings, self._load, index)))
        process.stdin.close()
        started = time.monotonic()
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if b"walletgate worker ready" not in line:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            mark_process_dead(process.pid, self._metrics_dir)  # type: ignore[no-untyped-call]
            raise WorkerStartError(f"worker {index} did not start (exit code {process.returncode})")
        self._processes[process.pid] = process
        self._indexes[process.pid] = index
        if self._stopping:
            # Started while the others drain (a restart racing SIGTERM): drain it too.
            process.send_signal(signal.SIGTERM)
        watcher = asyncio.get_running_loop().create_task(self._watch(process, started))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, process: asyncio.subprocess.Process, started: float) -> None:
        assert process.stdout is not None
        # Drained so a chatty worker never blocks on a full pipe.
        while await process.stdout.read(65536):
            continue
        code = await process.wait()
        # Its gauges go; its counters stay in the sum, which never goes back.
        mark_process_dead(process.pid, self._metrics_dir)  # type: ignore[no-untyped-call]
        del self._processes[process.pid]
        index = self._indexes.pop(process.pid)
        if self._stopping:
            return
        _tell(logging.WARNING, "worker.exited", worker=index, pid=process.pid, code=code)
        if time.monotonic() - started < YOUNG_DEATH_S:
            await asyncio.sleep(RESTART_PAUSE_S)
        while not self._stopping:
            try:
                await self._spawn(index)
                return
            except WorkerStartError as exc:
                _tell(
                    logging.WARNING,
                    "worker.start_failed",
                    worker=index,
                    reason=str(exc),
                    retry_in_s=RESTART_PAUSE_S,
                )
                await asyncio.sleep(RESTART_PAUSE_S)

    def signal_all(self, signum: int) -> None:
        for process in list(self._processes.values()):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    async def stop(self) -> bool:
        """SIGTERM to every worker and wait for it; True when all exited 0."""
        self._stopping = True
        processes = list(self._processes.values())
        self.signal_all(signal.SIGTERM)
        codes = []
        for process in processes:
            try:
                codes.append(await asyncio.wait_for(process.wait(), DRAIN_TIMEOUT_S))
            except TimeoutError:
                _tell(
                    logging.WARNING,
                    "worker.killed",
                    worker=self._indexes.get(process.pid),
                    pid=process.pid,
                    reason=f"did not drain within {DRAIN_TIMEOUT_S:g}s",
                )
                process.kill()
                codes.append(await process.wait())
        # A restart under way ends by draining what it started (see _spawn).
        while self._watchers:
            await asyncio.wait(set(self._watchers))
        return all(code == 0 for code in codes)


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound (never listening) SO_REUSEPORT socket that holds the public port."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise bind_error("listen", host, port, exc) from None
    holder = socket.socket(family, kind, proto)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(address)
    except OSError as exc:
        holder.close()
        raise bind_error("listen", host, port, exc) from None
    return holder


@dataclasses.dataclass(frozen=True)
class WorkerLoad:
    """What a worker re-reads on SIGHUP: the supervisor's loader, on the port the
    supervisor resolved, as one worker (so only real changes count as changes)."""

    load: Callable[[], Settings]
    port: int

    def __call__(self) -> Settings:
        return self.load().replace("listen", port=self.port, workers=1)


async def supervise(
    settings: Settings,
    *,
    load: Callable[[], Settings] | None = None,
    stop: Stop | None = None,
    also_until: Awaitable[object] | None = None,
    more_banner: Sequence[tuple[str, dict[str, str]]] = (),
    command: str = "gateway",
) -> int:
    """Run the workers until SIGTERM/SIGINT (or `also_until` completes); the exit code."""
    stop = stop or Stop()
    holder = reserve_port(settings.listen.host, settings.listen.port)
    port = holder.getsockname()[1]
    metrics_dir = tempfile.mkdtemp(prefix="walletgate-metrics-")
    count = worker_count(settings)
    worker_settings = settings.replace("listen", port=port, workers=1)
    workers = Workers(
        worker_settings, count, metrics_dir, WorkerLoad(load, port) if load is not None else None
    )
    loop = asyncio.get_running_loop()
    fmt = settings.log.format
    try:
        async with _admin(settings, workers) as (admin_url, admin_app):
            # The admin listener's own gateway (operator API: tokens, tiers) reloads too.
            reloads: set[asyncio.Task[object]] = set()

            def on_hup() -> None:
                workers.signal_all(signal.SIGHUP)
                if load is not None:
                    task = loop.create_task(reload_from(admin_app, load))
                    reloads.add(task)
                    task.add_done_callback(reloads.discard)

            loop.add_signal_handler(signal.SIGHUP, on_hup)
            await workers.start()
            shown = "127.0.0.1" if settings.listen.host in ("0.0.0.0", "") else settings.listen.host
            public_url = f"http://{shown}:{port}"
            pids = workers.pids()
            log_start(
                settings, command, public_url, admin_url, **SUPERVISOR, workers=count, pids=pids
            )
            banner(settings, public_url, admin_url, bundled=command == "run")
            say(
                f"walletgate workers: {count} (pids {' '.join(map(str, pids))})",
                fmt,
                "workers",
                workers=count,
                pids=pids,
            )
            for line, fields in more_banner:
                say(line, fmt, "listening", **fields)
            reason = await _until(stop, also_until)
            _tell(logging.INFO, "shutdown", reason=reason)
            drained = await workers.stop()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        holder.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    _tell(logging.INFO, "stopped", drained=drained)
    return 0 if drained else 1


@contextlib.asynccontextmanager
async def _admin(
    settings: Settings, workers: Workers
) -> AsyncIterator[tuple[str, web.Application]]:
    """The admin listener, with a gateway of its own for the store and limiter checks."""
    app = build_app(settings)
    # The key-count gauge is the supervisor's own (it asks the store on scrape).
    workers.registry.register(app[GATEWAY].metrics.api_keys)
    # Its lifecycle (store, limiter, key cache) runs without a public site.
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    admin_runner = web.AppRunner(
        build_admin_app(app, workers), access_log=None, handle_signals=False
    )
    await admin_runner.setup()
    listening = False
    try:
        admin = settings.admin
        site = web.TCPSite(admin_runner, admin.host, admin.port)
        await start_site(site, "admin", admin.host, admin.port)
        listening = True
        server: Any = site._server  # aiohttp keeps the bound socket here; port 0 needs it
        bound = server.sockets[0].getsockname()[1] if server and server.sockets else 0
        host = "127.0.0.1" if settings.admin.host in ("0.0.0.0", "") else settings.admin.host
        yield f"http://{host}:{bound}", app
    finally:
        await admin_runner.cleanup()
        await runner.cleanup()
        if listening:
            say_stopped(settings, app[SHUTDOWN].summary())


async def _until(stop: Stop, also: Awaitable[object] | None) -> str:
    """Why serving ends: the signal's name, or "backend exited"."""
    waits: list[asyncio.Future[object]] = [asyncio.ensure_future(stop.wait())]
    if also is not None:
        waits.append(asyncio.ensure_future(also))
    _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return stop.reason if stop.event.is_set() else "backend exited"
