"""The reference for gateway throughput: a naive aiohttp pass-through proxy.

What one writes first: one shared `ClientSession`, no authentication, no
limits, the default asyncio event loop, every body read whole. The gateway
must be at least as fast while doing all of its auth work.

    python bench/naive_proxy.py --upstream http://127.0.0.1:9000 [--port 0]

Prints `naive proxy listening on http://127.0.0.1:<port>` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"}
)


async def passthrough(request: web.Request) -> web.Response:
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    url = request.app[UPSTREAM] + request.path_qs
    async with request.app[SESSION].request(
        request.method, url, headers=headers, data=body or None, allow_redirects=False
    ) as upstream:
        payload = await upstream.read()
        kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        return web.Response(status=upstream.status, body=payload, headers=kept)


def build_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", passthrough)
    return app


async def serve(host: str, port: int, upstream: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(build_app(upstream), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"naive proxy listening on http://{host}:{bound}", flush=True)
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
    asyncio.run(serve(args.host, args.port, args.upstream))


if __name__ == "__main__":
    main()
