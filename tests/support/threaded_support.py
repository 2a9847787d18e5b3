"""A gateway and the real backend on their own event loop in a thread, so
blocking HTTP clients (hypothesis, schemathesis) can drive them."""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from backend.app import create_app as create_backend_app
from gateway.app import build_app
from gateway.http.admin import build_admin_app
from gateway.http.context import GATEWAY
from gateway.http.listener import GatewayRunner
from tests.conftest import make_settings


class _GatewayServer(TestServer):
    async def _make_runner(self, **kwargs: Any) -> GatewayRunner:
        return GatewayRunner(self.app, **kwargs)


@dataclass
class ThreadedGateway:
    host: str
    port: int
    loop: asyncio.AbstractEventLoop
    app: Any
    admin_port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def key_count(self) -> int:
        store = self.app[GATEWAY].store
        future = asyncio.run_coroutine_threadsafe(store.list_keys(), self.loop)
        return len(future.result(10))


def run_threaded_gateway(tmp_path: Path, **sections: Any) -> Iterator[ThreadedGateway]:
    """The gateway (and its admin listener) with test settings; `sections` override them."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    servers: list[TestServer] = []

    async def start() -> Any:
        backend = TestServer(create_backend_app(str(tmp_path / "orders.db")), host="127.0.0.1")
        await backend.start_server()
        servers.append(backend)
        settings = make_settings(
            tmp_path,
            upstream={"url": str(backend.make_url("")).rstrip("/")},
            rate_limits={"public_per_minute": 1_000_000} | sections.pop("rate_limits", {}),
            **sections,
        )
        app = build_app(settings)
        admin = TestServer(build_admin_app(app), host="127.0.0.1")
        server = _GatewayServer(app, host="127.0.0.1")
        await server.start_server()
        await admin.start_server()
        servers.extend((admin, server))
        return app

    def run() -> None:
        asyncio.set_event_loop(loop)
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait()
    app = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    port, admin_port = servers[-1].port, servers[-2].port
    assert port is not None and admin_port is not None
    yield ThreadedGateway("127.0.0.1", port, loop, app, admin_port)

    async def stop() -> None:
        for server in reversed(servers):
            await server.close()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def send(
    gw: ThreadedGateway, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(gw.host, gw.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
