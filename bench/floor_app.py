"""The framework's floor: a minimal aiohttp application answering the execute
route with a fixed JSON body (no auth, no upstream, no metrics).

Its server CPU per request is the reference for the gateway's own: what
aiohttp itself costs to parse a request and write an answer. Runs on uvloop
when installed, as the gateway does.

    python bench/floor_app.py [--host 127.0.0.1] [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web

BODY = b'{"success":true,"data":{"status":"executed"}}'


async def fixed(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


def build_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/api/v1/orders/{uuid}/execute", fixed)
    return app


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(build_app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"floor app listening on http://{host}:{bound}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
