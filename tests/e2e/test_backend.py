"""The bundled order backend against a real server and a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from backend.app import create_app
from backend.orders import ORDER_FIELDS
from backend.store import CLIENT_FIELDS

REPO = Path(__file__).resolve().parents[2]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
TXID = re.compile(r"0x[0-9a-f]{64}")

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


def order_body(uuid: str = "uuid-456def789", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "owner": "SP1ABC123DEF456",
        "inputToken": "SP1ABC123DEF456.token-a",
        "outputToken": "SP1ABC123DEF456.token-b",
        "amountIn": "1000000",
        "targetPrice": "1.5",
        "direction": "gt",
        "conditionToken": "SP1ABC123DEF456.price-oracle",
        "recipient": "SP1ABC123DEF456",
        "signature": "0x123abc",
        "uuid": uuid,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not _ABSENT}


_ABSENT = object()


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def client(aiohttp_client: MakeClient, tmp_path: Path) -> Client:
    return await aiohttp_client(create_app(str(tmp_path / "orders.db")))


async def create(client: Client, **changes: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/orders/new", json=order_body(**changes))
    assert resp.status == 201, await resp.text()
    return (await resp.json())["data"]


async def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"error", "code", "details", "timestamp"}
    assert body["code"] == code
    assert isinstance(body["details"], dict)
    assert TIMESTAMP.fullmatch(body["timestamp"])
    return body


async def test_create_returns_the_open_order_with_created_at(client: Client) -> None:
    sent = order_body(validFrom="2024-01-15T10:00:00Z", validTo="2099-01-16T10:00:00Z")
    resp = await client.post("/api/v1/orders/new", json=sent)
    assert resp.status == 201
    body = await resp.json()
    assert body["status"] == "success"
    data = body["data"]
    assert {k: data[k] for k in sent} == sent
    assert data["status"] == "open"
    assert TIMESTAMP.fullmatch(data["createdAt"])


async def test_get_returns_the_stored_order(client: Client) -> None:
    created = await create(client, uuid="order-1")
    resp = await client.get("/api/v1/orders/order-1")
    assert resp.status == 200
    assert await resp.json() == {"status": "success", "data": created}


async def test_unknown_order_is_not_found_on_every_order_route(client: Client) -> None:
    for method, path in [
        ("GET", "/api/v1/orders/nope"),
        ("POST", "/api/v1/orders/nope/execute"),
        ("PATCH", "/api/v1/orders/nope/cancel"),
        ("GET", "/api/v1/orders/bad%20uuid!"),
    ]:
        body = await assert_error(await client.request(method, path), 404, "ORDER_NOT_FOUND")
        assert body["error"] == "Order not found"


async def test_unknown_path_and_method_get_the_error_body(client: Client) -> None:
    body = await assert_error(await client.get("/api/v2/whatever"), 404, "NOT_FOUND")
    assert body["error"] == "Not found"
    resp = await client.delete("/api/v1/orders/x")
    await assert_error(resp, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in resp.headers["Allow"]


async def test_execute_fills_the_order_and_records_the_gateway_wallet(client: Client) -> None:
    await create(client, uuid="exec-1")
    resp = await client.post(
        "/api/v1/orders/exec-1/execute", headers={"X-Gateway-Wallet": "SP1ABC123DEF456"}
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "success"
    assert TXID.fullmatch(body["txid"])
    order = (await (await client.get("/api/v1/orders/exec-1")).json())["data"]
    assert order["status"] == "filled"
    assert order["txid"] == body["txid"]
    assert order["executedBy"] == "SP1ABC123DEF456"
    assert TIMESTAMP.fullmatch(order["executedAt"])


async def test_cancel_marks_the_order_cancelled_and_records_who(client: Client) -> None:
    await create(client, uuid="cancel-1")
    resp = await client.patch(
        "/api/v1/orders/cancel-1/cancel", headers={"X-Gateway-Wallet": "0xabc"}
    )
    assert resp.status == 200
    assert await resp.json() == {"status": "success"}
    order = (await (await client.get("/api/v1/orders/cancel-1")).json())["data"]
    assert (order["status"], order["cancelledBy"]) == ("cancelled", "0xabc")
    assert TIMESTAMP.fullmatch(order["cancelledAt"])


async def test_execute_after_cancel_is_refused_as_cancelled(client: Client) -> None:
    await create(client, uuid="o")
    assert (await client.patch("/api/v1/orders/o/cancel")).status == 200
    body = await assert_error(await client.post("/api/v1/orders/o/execute"), 400, "ORDER_NOT_OPEN")
    assert body["error"] == "Order not open"
    assert body["details"] == {"reason": "cancelled", "orderUuid": "o"}


async def test_cancel_after_fill_is_refused_as_filled(client: Client) -> None:
    await create(client, uuid="o")
    assert (await client.post("/api/v1/orders/o/execute")).status == 200
    body = await assert_error(await client.patch("/api/v1/orders/o/cancel"), 400, "ORDER_NOT_OPEN")
    assert body["details"] == {"reason": "filled", "orderUuid": "o"}
    again = await assert_error(await client.post("/api/v1/orders/o/execute"), 400, "ORDER_NOT_OPEN")
    assert again["details"]["reason"] == "filled"


async def test_execute_before_valid_from_is_not_yet_valid(client: Client) -> None:
    await create(client, uuid="early", validFrom=iso(timedelta(hours=1)))
    body = await assert_error(
        await client.post("/api/v1/orders/early/execute"), 400, "ORDER_NOT_OPEN"
    )
    assert body["details"]["reason"] == "not_yet_valid"
    order = (await (await client.get("/api/v1/orders/early")).json())["data"]
    assert order["status"] == "open"


async def test_execute_after_valid_to_is_expired_but_cancel_still_works(client: Client) -> None:
    await create(
        client, uuid="late", validFrom="2020-01-01T00:00:00Z", validTo=iso(-timedelta(seconds=1))
    )
    body = await assert_error(
        await client.post("/api/v1/orders/late/execute"), 400, "ORDER_NOT_OPEN"
    )
    assert body["details"]["reason"] == "expired"
    assert (await client.patch("/api/v1/orders/late/cancel")).status == 200


async def test_execute_inside_the_window_succeeds(client: Client) -> None:
    await create(
        client,
        uuid="w",
        validFrom=iso(-timedelta(minutes=1)),
        validTo=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    )
    assert (await client.post("/api/v1/orders/w/execute")).status == 200


@pytest.mark.parametrize("parallel", [2, 20])
async def test_concurrent_executes_fill_the_order_exactly_once(
    client: Client, parallel: int
) -> None:
    await create(client, uuid="race")
    responses = await asyncio.gather(
        *(client.post("/api/v1/orders/race/execute") for _ in range(parallel))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] + [400] * (parallel - 1)
    winners = [await r.json() for r in responses if r.status == 200]
    order = (await (await client.get("/api/v1/orders/race")).json())["data"]
    assert order["txid"] == winners[0]["txid"]
    for r in responses:
        if r.status == 400:
            assert (await r.json())["details"]["reason"] == "filled"


async def test_concurrent_execute_and_cancel_have_one_winner(client: Client) -> None:
    await create(client, uuid="duel")
    execute, cancel = await asyncio.gather(
        client.post("/api/v1/orders/duel/execute"), client.patch("/api/v1/orders/duel/cancel")
    )
    assert sorted([execute.status, cancel.status]) == [200, 400]


async def test_duplicate_uuid_is_a_conflict_and_keeps_the_first(client: Client) -> None:
    first = await create(client, uuid="dup", amountIn="5")
    resp = await client.post("/api/v1/orders/new", json=order_body("dup", amountIn="6"))
    body = await assert_error(resp, 409, "ORDER_EXISTS")
    assert body["error"] == "Order already exists"
    assert (await (await client.get("/api/v1/orders/dup")).json())["data"] == first


_BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("owner", {"owner": ""}),
    ("owner", {"owner": "S" * 129}),
    ("owner", {"owner": _ABSENT}),
    ("owner", {"owner": 12}),
    ("inputToken", {"inputToken": ["a"]}),
    ("outputToken", {"outputToken": True}),
    ("conditionToken", {"conditionToken": "c" * 257}),
    ("recipient", {"recipient": "line\nbreak"}),
    ("recipient", {"recipient": "\ud800"}),
    ("amountIn", {"amountIn": 1000}),
    ("amountIn", {"amountIn": "0"}),
    ("amountIn", {"amountIn": "-1"}),
    ("amountIn", {"amountIn": "1.5"}),
    ("amountIn", {"amountIn": "1e6"}),
    ("amountIn", {"amountIn": "1" * 79}),
    ("amountIn", {"amountIn": "\uff11\uff12"}),
    ("targetPrice", {"targetPrice": 1.5}),
    ("targetPrice", {"targetPrice": "0.000"}),
    ("targetPrice", {"targetPrice": "-1.5"}),
    ("targetPrice", {"targetPrice": "1.5e3"}),
    ("targetPrice", {"targetPrice": "1."}),
    ("targetPrice", {"targetPrice": "1" * 65}),
    ("direction", {"direction": "up"}),
    ("direction", {"direction": ["gt"]}),
    ("signature", {"signature": ""}),
    ("signature", {"signature": "a" * 1025}),
    ("uuid", {"uuid": "has space"}),
    ("uuid", {"uuid": "u" * 129}),
    ("uuid", {"uuid": "a/b"}),
    ("validFrom", {"validFrom": "yesterday"}),
    ("validTo", {"validTo": 1705312800}),
    ("validTo", {"validFrom": "2024-01-16T10:00:00Z", "validTo": "2024-01-15T10:00:00Z"}),
    ("validTo", {"validFrom": "2024-01-16T10:00:00Z", "validTo": "2024-01-16T11:00:00+01:00"}),
    ("publicKey", {"publicKey": "p" * 201}),
    ("publicKey", {"publicKey": 7}),
    ("extra", {"extra": "field"}),
]


@pytest.mark.parametrize(("field", "changes"), _BAD_FIELDS)
async def test_invalid_field_is_a_400_naming_it_and_stores_nothing(
    client: Client, field: str, changes: dict[str, Any]
) -> None:
    resp = await client.post("/api/v1/orders/new", json=order_body(**changes))
    body = await assert_error(resp, 400, "BAD_REQUEST")
    assert body["error"] == "Invalid request body"
    assert body["details"]["field"] == field
    assert (await (await client.get("/api/v1/orders")).json())["data"] == []


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"owner": "x",}', b"\xff\xfe{}", b"[]", b'"text"', b"null", b"[" * 50_000],
)
async def test_malformed_body_is_a_400(client: Client, raw: bytes) -> None:
    resp = await client.post("/api/v1/orders/new", data=raw)
    body = await assert_error(resp, 400, "BAD_REQUEST")
    assert body["details"]["field"] == "body"


async def test_oversized_body_is_a_413(client: Client) -> None:
    resp = await client.post("/api/v1/orders/new", data=b"{" + b" " * 100_000 + b"}")
    await assert_error(resp, 413, "PAYLOAD_TOO_LARGE")


async def test_optional_fields_accept_null_and_public_key(client: Client) -> None:
    data = await create(
        client, uuid="opt", validFrom=None, validTo=None, publicKey="02" + "ab" * 32
    )
    assert (data["validFrom"], data["validTo"], data["publicKey"]) == (None, None, "02" + "ab" * 32)


async def test_listing_walks_every_page_newest_first_without_duplicates(client: Client) -> None:
    created = [(await create(client, uuid=f"p{i}"))["uuid"] for i in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        resp = await client.get("/api/v1/orders", params=params)
        assert resp.status == 200
        body = await resp.json()
        assert body["status"] == "success"
        seen += [o["uuid"] for o in body["data"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))


async def test_listing_defaults_to_fifty(client: Client) -> None:
    for i in range(51):
        await create(client, uuid=f"d{i}")
    body = await (await client.get("/api/v1/orders")).json()
    assert len(body["data"]) == 50
    assert body["nextCursor"] is not None


async def test_listing_filters_by_owner_case_insensitively_and_status(client: Client) -> None:
    evm = "0x52908400098527886E0F7030069857D2E4169EE7"
    await create(client, uuid="a1", owner=evm)
    await create(client, uuid="a2", owner=evm.lower())
    await create(client, uuid="b1", owner="SP2OTHER")
    await client.post("/api/v1/orders/a1/execute")

    async def uuids(**params: str) -> list[str]:
        resp = await client.get("/api/v1/orders", params=params)
        assert resp.status == 200
        return [o["uuid"] for o in (await resp.json())["data"]]

    assert await uuids(owner=evm.upper().replace("0X", "0x")) == ["a2", "a1"]
    assert await uuids(owner="sp2other") == ["b1"]
    assert await uuids(owner=evm, status="open") == ["a2"]
    assert await uuids(status="filled") == ["a1"]
    assert await uuids(status="cancelled") == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=-1",
        "limit=%EF%BC%91",
        "status=expired",
        "cursor=abc",
        "cursor=0",
        "cursor=99999999999999999999999",
        "owner=" + "x" * 129,
    ],
)
async def test_bad_listing_parameters_are_a_400(client: Client, query: str) -> None:
    await assert_error(await client.get(f"/api/v1/orders?{query}"), 400, "BAD_REQUEST")


async def test_unprintable_gateway_wallet_header_is_not_recorded(client: Client) -> None:
    await create(client, uuid="hdr")
    resp = await client.post("/api/v1/orders/hdr/execute", headers={"X-Gateway-Wallet": "w" * 300})
    assert resp.status == 200
    order = (await (await client.get("/api/v1/orders/hdr")).json())["data"]
    assert order["executedBy"] is None


async def test_orders_survive_a_restart_in_a_created_directory_in_wal_mode(
    aiohttp_client: MakeClient, tmp_path: Path
) -> None:
    database = tmp_path / "nested" / "dir" / "orders.db"
    first = await aiohttp_client(create_app(str(database)))
    created = await create(first, uuid="kept")
    await first.close()
    second = await aiohttp_client(create_app(str(database)))
    assert (await (await second.get("/api/v1/orders/kept")).json())["data"] == created
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_store_columns_cover_exactly_the_validated_fields() -> None:
    assert set(CLIENT_FIELDS) == set(ORDER_FIELDS)


def test_backend_does_not_import_the_gateway() -> None:
    code = (
        "import sys, backend.app, backend.server, backend.__main__;"
        "sys.exit(any(m == 'gateway' or m.startswith('gateway.') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False)
    assert result.returncode == 0


def _read_line(proc: subprocess.Popen[str], timeout: float = 15.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "backend printed nothing"
    return proc.stdout.readline().strip()


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_module_entry_point_serves_and_stops_cleanly_on_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    database = tmp_path / "data" / "orders.db"
    args = ["--host", "127.0.0.1", "--port", "0", "--database", str(database)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _read_line(proc)
        match = re.fullmatch(r"walletgate backend listening on (http://127\.0\.0\.1:(\d+))", line)
        assert match, line
        url, port = match.group(1), int(match.group(2))
        assert port != 0
        status, created = _http("POST", f"{url}/api/v1/orders/new", order_body("sub-1"))
        assert status == 201
        status, fetched = _http("GET", f"{url}/api/v1/orders/sub-1")
        assert (status, fetched["data"]) == (200, created["data"])
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in stderr
    assert database.exists()
