"""Running the backend as a process: bind, announce, wait for a signal, shut down.

`walletgate backend` and `python -m backend` both end up in `main`; `start`
is there for callers that run the backend inside their own event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import sys
from collections.abc import Callable

from aiohttp import web

from backend.app import create_app
from backend.lifeline import die_with_parent, wait_for_parent_pipe_eof

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
DEFAULT_DATABASE = "data/orders.db"


def _url(address: object, fallback_host: str, fallback_port: int) -> str:
    """http://HOST:PORT from a bound socket address (the real port when 0 was asked)."""
    host, port = fallback_host, fallback_port
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), int(address[1])
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Set the app up and listen; returns the runner (call `cleanup`) and the URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    return runner, _url(addresses[0] if addresses else None, host, port)


async def serve(
    database: str,
    host: str,
    port: int,
    announce: Callable[[str], None] | None = None,
    *,
    watch_parent: bool = False,
) -> None:
    """Serve until SIGTERM or SIGINT (or, with `watch_parent`, until stdin
    closes: the parent that holds it died), then close connections and the store."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Installed before anything opens, so an early signal still stops us cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = None
    if watch_parent:
        watcher = asyncio.create_task(wait_for_parent_pipe_eof())
        watcher.add_done_callback(lambda _: stop.set())
    try:
        runner, url = await start(create_app(database), host, port)
        try:
            if announce is not None:
                announce(url)
            await stop.wait()
        finally:
            if watcher is not None:
                watcher.cancel()
            await runner.cleanup()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend", description="walletgate's bundled order backend"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="SQLite file path")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="stop when this process (the parent holding our stdin) dies",
    )
    return parser


def _announce(url: str) -> None:
    print(f"walletgate backend listening on {url}", flush=True)


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"walletgate backend: invalid port {args.port}", file=sys.stderr)
        return 2
    watch_parent = args.parent_pid is not None
    if watch_parent:
        die_with_parent(args.parent_pid)
    try:
        with _runner() as runner:
            runner.run(
                serve(args.database, args.host, args.port, _announce, watch_parent=watch_parent)
            )
    except (OSError, sqlite3.Error) as exc:
        print(f"walletgate backend: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
