"""Bad input, generated: every route answers a documented 4xx/2xx, never a 500,
and no rejected request changes the key store (quality.md, "Bad input").

The gateway and the real backend run on their own event loop in a thread, so
hypothesis can drive plain blocking HTTP requests at them.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.app import create_app as create_backend_app
from gateway.app import build_app
from gateway.context import GATEWAY
from tests.conftest import make_settings

PATHS = [
    "/api/v1/api-keys",
    "/api/v1/api-keys/key_0123456789abcdef",
    "/api/v1/api-keys/key_0123456789abcdef/rotate",
    "/api-key/generate",
    "/api-key/revoke",
    "/api/v1/orders/new",
    "/api/v1/orders/uuid-1/execute",
    "/api/v1/orders/uuid-1/cancel",
    "/api/v1/orders/uuid-1",
    "/api/v1/orders",
    "/openapi.json",
    "/nope",
]
METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]
DOCUMENTED = {200, 201, 400, 401, 403, 404, 405, 409, 413, 429}
HEADER_NAMES = [
    "X-API-Key",
    "X-Message",
    "X-Signature",
    "X-Wallet-Address",
    "X-Public-Key",
    "X-Request-ID",
    "X-Gateway-Wallet",
    "Content-Type",
]

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
signed_like = st.fixed_dictionaries(
    {},
    optional={
        "message": st.one_of(st.text(max_size=80), json_values.map(json.dumps)),
        "signature": st.one_of(st.text(max_size=140), st.binary(max_size=65).map(bytes.hex)),
        "walletAddress": st.sampled_from(
            [
                "SP3JXHVKQEEFMSC7789MYGGV6PF0DVVY3EKMGGCM3",
                "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
                "",
                "SPX",
            ]
        ),
        "owner": st.text(max_size=50),
        "uuid": st.text(max_size=20),
    },
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    signed_like.map(lambda v: json.dumps(v).encode()),
)


@dataclass
class ThreadedGateway:
    host: str
    port: int
    loop: asyncio.AbstractEventLoop
    app: Any

    def key_count(self) -> int:
        store = self.app[GATEWAY].store
        future = asyncio.run_coroutine_threadsafe(store.list_keys(), self.loop)
        return len(future.result(10))


@pytest.fixture(scope="module")
def threaded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")
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
            rate_limits={"public_per_minute": 1_000_000},
        )
        app = build_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return app

    def run() -> None:
        asyncio.set_event_loop(loop)
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait()
    app = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    port = servers[-1].port
    assert port is not None
    yield ThreadedGateway("127.0.0.1", port, loop, app)

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


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(METHODS),
    path=st.sampled_from(PATHS),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), printable, max_size=5),
    body=bodies,
)
def test_generated_requests_never_get_a_500_nor_change_the_store(
    threaded_gateway: ThreadedGateway,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    before = threaded_gateway.key_count()
    status, raw = send(threaded_gateway, method, path, headers, body)
    assert status in DOCUMENTED, (status, raw[:300])
    if status >= 400:
        payload = json.loads(raw)
        assert set(payload) >= {"error", "code", "details", "timestamp"}
        assert threaded_gateway.key_count() == before


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "ck_live_" + "A" * 5000},
        {"X-Message": "{" * 8000, "X-Signature": "00", "X-Wallet-Address": "SP"},
        {"X-API-Key": "ck_live_\u00e9\u00e9"},
    ],
)
def test_oversized_and_non_ascii_headers_get_a_4xx_json_body(
    threaded_gateway: ThreadedGateway, headers: dict[str, str]
) -> None:
    encoded = {name: value.encode("utf-8").decode("latin-1") for name, value in headers.items()}
    status, raw = send(threaded_gateway, "POST", "/api/v1/orders/uuid-1/execute", encoded, None)
    assert 400 <= status < 500
    assert json.loads(raw)["code"]


def test_invalid_utf8_body_is_a_400(threaded_gateway: ThreadedGateway) -> None:
    status, raw = send(
        threaded_gateway,
        "POST",
        "/api/v1/api-keys",
        {"Content-Type": "application/json"},
        b'{"message": "\xff\xfe"}',
    )
    assert status == 400
    assert json.loads(raw)["code"] == "BAD_REQUEST"
