"""The own-stack proxy floor: what forwarding costs on walletgate's own stack.

The gateway's listener (`GatewayRunner`, with its connection guard and JSON
error handler), its upstream pool (`Forwarder`) and its request-header
filtering, forwarding every request to the upstream: no route table,
authentication, rate limiter, metrics, rate-limit headers or log. uvloop, as
the gateway runs. The gateway's server CPU per request is measured against
this floor, so the figure shows what the policy costs, not what forwarding on
this stack costs.

    python bench/own_stack_floor.py --upstream http://127.0.0.1:9000 [--port 0]

Prints `own-stack floor listening on http://127.0.0.1:<port>` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.config import ListenSettings
from gateway.http.listener import GatewayRunner
from gateway.upstream.forwarder import BUFFER_LIMIT, Forwarder, request_headers

FORWARDER = web.AppKey("forwarder", Forwarder)


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read() if request.body_exists else None
    assert body is None or len(body) <= BUFFER_LIMIT
    peer = request.remote or ""
    extra = [("X-Forwarded-For", peer), ("X-Forwarded-Proto", request.scheme)]
    headers = request_headers(request.headers, extra)
    return await request.app[FORWARDER].forward(
        request, request.raw_path, body, headers, lambda response: None
    )


def build_app(upstream: str) -> web.Application:
    app = web.Application()

    async def forwarder_ctx(app: web.Application) -> AsyncIterator[None]:
        forwarder = app[FORWARDER] = Forwarder(upstream, timeout_s=10, max_connections=100)
        await forwarder.start()
        yield
        await forwarder.close()

    app.cleanup_ctx.append(forwarder_ctx)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def serve(host: str, port: int, upstream: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app = build_app(upstream)
    runner = GatewayRunner(app, listen=ListenSettings(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"own-stack floor listening on http://{host}:{bound}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True, help="upstream base URL")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.upstream))
    else:
        uvloop.run(serve(args.host, args.port, args.upstream))


if __name__ == "__main__":
    main()
