"""Forwarding, operations endpoints and bad input.

Every test runs the real gateway in front of a real upstream on loopback and
asserts on what that upstream actually received.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.keys.model import ApiKey, UsageStats
from gateway.wallets.signing import signed_body
from tests.conftest import RunningGateway, create_api_key, signed_order
from tests.support.forwarding_support import (
    BIG,
    ERROR_KEYS,
    GZIPPED,
    Upstream,
    closed_port,
    error_of,
    raw_exchange,
)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", up.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    up.url = str(server.make_url("")).rstrip("/")
    yield up
    up.release.set()
    await server.close()


@pytest.fixture
async def proxied(start_gateway, upstream: Upstream) -> RunningGateway:
    return await start_gateway(
        upstream={"url": upstream.url, "timeout_s": 0.5},
        limits={"max_body_bytes": 512 * 1024},
    )


# -- what goes up and what comes back -------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 400, 404, 418, 500, 503])
async def test_upstream_status_body_and_headers_come_back_unchanged(proxied, upstream, status):
    url = proxied.at(f"/api/v1/orders?status=open&owner=SP1%2BX&respond={status}")
    async with proxied.client.get(url) as response:
        assert response.status == status
        assert await response.json() == {
            "method": "GET",
            "path": f"/api/v1/orders?status=open&owner=SP1%2BX&respond={status}",
            "length": 0,
        }
        assert response.headers["X-Upstream"] == "yes"
        assert response.headers["Content-Type"].startswith("application/json")
        # Hop-by-hop headers stop at the gateway; its own headers win over the upstream's.
        assert "Proxy-Authenticate" not in response.headers
        assert "Keep-Alive" not in response.headers
        assert response.headers["X-Request-ID"] != "made-by-upstream"
        assert response.headers["X-RateLimit-Limit"] != "1"
    assert [r.path_qs for r in upstream.received] == [
        f"/api/v1/orders?status=open&owner=SP1%2BX&respond={status}"
    ]


async def test_hop_by_hop_spoofed_and_credential_headers_never_reach_upstream(
    proxied, upstream, stacks_signer
):
    created = await create_api_key(proxied, stacks_signer)
    headers = {
        "X-API-Key": created["apiKey"],
        "X-Message": "{}",
        "X-Signature": "00",
        "X-Wallet-Address": "SP000000000000000000002Q6VF78",
        "X-Public-Key": "02" + "11" * 32,
        "X-Gateway-Wallet": "SPOOFED",
        "X-Gateway-Key-Id": "spoofed-id",
        "X-Gateway-Auth": "service",
        "X-Gateway-Anything": "spoofed",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "Connection": "keep-alive, X-Private-Hop",
        "X-Private-Hop": "drop me",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Trailer": "X-Checksum",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "Proxy-Connection": "keep-alive",
        "X-Custom": "kept",
        "Accept": "application/json",
    }
    async with proxied.client.get(proxied.at("/api/v1/orders/abc"), headers=headers) as r:
        assert r.status == 200, await r.text()
    [seen] = upstream.received
    lowered = {name.lower() for name in seen.headers}
    replaced = {"X-Forwarded-For", "X-Forwarded-Proto", "X-Gateway-Wallet", "X-Gateway-Key-Id"}
    for name in headers.keys() - replaced - {"X-Custom", "Accept", "X-Gateway-Auth"}:
        assert name.lower() not in lowered, name
    assert "spoofed" not in json.dumps(dict(seen.headers)).lower()
    assert seen.headers["X-Custom"] == "kept"
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["X-Forwarded-For"] == "127.0.0.1"
    assert seen.headers["X-Forwarded-Proto"] == "http"
    assert seen.headers.getall("X-Gateway-Auth") == ["api_key"]
    assert seen.headers.getall("X-Gateway-Key-Id") == [created["keyId"]]
    assert seen.headers.getall("X-Gateway-Wallet") == [stacks_signer.address]


async def test_public_request_is_labelled_public_without_wallet_or_key(proxied, upstream):
    spoofed = {"X-Gateway-Auth": "api_key", "X-Gateway-Wallet": "SPOOFED"}
    async with proxied.client.get(proxied.at("/api/v1/orders"), headers=spoofed) as response:
        assert response.status == 200
    [seen] = upstream.received
    assert seen.headers.getall("X-Gateway-Auth") == ["public"]
    assert "X-Gateway-Wallet" not in seen.headers
    assert "X-Gateway-Key-Id" not in seen.headers


async def test_forwarded_headers_keep_the_chain_behind_a_trusted_proxy(start_gateway, upstream):
    gw = await start_gateway(
        upstream={"url": upstream.url}, listen={"trusted_proxies": ("127.0.0.0/8",)}
    )
    sent = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    async with gw.client.get(gw.at("/api/v1/orders"), headers=sent) as response:
        assert response.status == 200
    [seen] = upstream.received
    assert seen.headers["X-Forwarded-For"] == "203.0.113.7, 127.0.0.1"
    assert seen.headers.getall("X-Forwarded-Proto") == ["https"]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("client-id-1234", True),
        ("a.b:c_d-9", True),
        ("has spaces in it", False),
        ("x" * 129, False),
        ("", False),
        ("id\u00e9", False),
    ],
)
async def test_request_id_is_kept_when_well_formed_else_generated(proxied, upstream, sent, kept):
    headers = {"X-Request-ID": sent}
    async with proxied.client.get(proxied.at("/api/v1/orders"), headers=headers) as response:
        echoed = response.headers["X-Request-ID"]
    [seen] = upstream.received
    assert seen.headers.getall("X-Request-ID") == [echoed]
    assert (echoed == sent) is kept
    assert echoed


async def test_request_id_is_generated_and_echoed_on_errors_too(proxied, upstream):
    async with proxied.client.get(proxied.at("/nowhere")) as response:
        await error_of(response, 404, "NOT_FOUND")
        first = response.headers["X-Request-ID"]
    async with proxied.client.get(proxied.at("/nowhere")) as response:
        assert response.headers["X-Request-ID"] not in ("", first)
    async with proxied.client.get(proxied.at("/nowhere"), headers={"X-Request-ID": "r-1"}) as r:
        assert r.headers["X-Request-ID"] == "r-1"


async def test_request_body_reaches_upstream_byte_for_byte(proxied, upstream, stacks_signer):
    created = await create_api_key(proxied, stacks_signer)
    order = signed_order(stacks_signer)
    raw = b"  " + json.dumps(order, indent=3).encode() + b"\n"
    headers = {"X-API-Key": created["apiKey"], "Content-Type": "application/json"}
    async with proxied.client.post(
        proxied.at("/api/v1/orders/new?dry=1"), data=raw, headers=headers
    ) as response:
        assert response.status == 200, await response.text()
    [seen] = upstream.forwarded()
    assert (seen.method, seen.path_qs, seen.body) == ("POST", "/api/v1/orders/new?dry=1", raw)
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers.getall("X-Gateway-Wallet") == [stacks_signer.address]


@pytest.mark.parametrize("chunked", [False, True])
async def test_large_request_body_is_streamed_to_upstream_intact(
    proxied, upstream, stacks_signer, chunked
):
    created = await create_api_key(proxied, stacks_signer)
    upstream.owners["order-1"] = stacks_signer.address

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(BIG) // 2, 40000):
            yield BIG[start : min(start + 40000, len(BIG) // 2)]

    payload = chunks() if chunked else BIG[: len(BIG) // 2]
    async with proxied.client.post(
        proxied.at("/api/v1/orders/order-1/execute"),
        data=payload,
        headers={"X-API-Key": created["apiKey"]},
    ) as response:
        assert response.status == 200, await response.text()
    [seen] = upstream.forwarded()
    assert seen.body == BIG[: len(BIG) // 2]


@pytest.mark.parametrize("declared_length", [False, True])
async def test_large_response_body_is_streamed_back_intact(proxied, declared_length):
    query = "?length=1" if declared_length else ""
    async with proxied.client.get(proxied.at(f"/api/v1/orders/big{query}")) as response:
        assert response.status == 200
        assert await response.read() == BIG
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert "X-Request-ID" in response.headers


async def test_compressed_response_passes_through_untouched(proxied):
    async with (
        aiohttp.ClientSession(auto_decompress=False) as raw_client,
        raw_client.get(proxied.at("/api/v1/orders/gzip")) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert await response.read() == GZIPPED


# -- failures of the upstream -----------------------------------------------------------


async def test_upstream_down_is_502_and_the_gateway_keeps_its_state(start_gateway, stacks_signer):
    gw = await start_gateway(upstream={"url": f"http://127.0.0.1:{closed_port()}"})
    created = await create_api_key(gw, stacks_signer)
    key = {"X-API-Key": created["apiKey"]}
    for _ in range(2):
        async with gw.client.get(gw.at("/api/v1/orders"), headers=key) as response:
            body = await error_of(response, 502, "UPSTREAM_UNAVAILABLE")
            assert body["error"] == "Upstream unavailable"
    # A write whose owner must be looked up fails the same way, not with 404 or 500.
    async with gw.client.post(gw.at("/api/v1/orders/o-1/execute"), headers=key) as response:
        await error_of(response, 502, "UPSTREAM_UNAVAILABLE")
    # An exchange outage must not take the gateway out of its load balancer:
    # ready, with the upstream's state and the reason in the body.
    async with gw.client.get(gw.admin_url + "/readyz") as response:
        body = await response.json()
        assert response.status == 200, body
        assert body["checks"] == {"store": "ok", "rateLimiter": "ok", "upstream": "unavailable"}
        assert body["reasons"]["upstream"]
    async with gw.client.get(gw.admin_url + "/healthz") as response:
        assert response.status == 200
    assert len(await gw.gw.store.list_keys(wallet=None, status=None)) == 1


async def test_readiness_fails_on_the_upstream_only_when_configured_to(start_gateway):
    gw = await start_gateway(
        upstream={"url": f"http://127.0.0.1:{closed_port()}"},
        admin={"ready_requires_upstream": True},
    )
    async with gw.client.get(gw.admin_url + "/readyz") as response:
        body = await error_of(response, 503, "SERVICE_UNAVAILABLE")
        assert body["details"]["checks"]["upstream"] == "unavailable"
        assert body["details"]["checks"]["store"] == "ok"
        assert body["details"]["reasons"]["upstream"]


async def test_upstream_slower_than_the_timeout_is_504(proxied, upstream):
    async with proxied.client.get(proxied.at("/api/v1/orders/slow")) as response:
        body = await error_of(response, 504, "UPSTREAM_TIMEOUT")
        assert body["error"] == "Upstream timeout"
    async with proxied.client.get(proxied.at("/api/v1/orders/stall")) as response:
        await error_of(response, 504, "UPSTREAM_TIMEOUT")
    async with proxied.client.get(proxied.at("/api/v1/orders")) as response:
        assert response.status == 200


async def test_upstream_resetting_the_connection_is_502(start_gateway):
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        gw = await start_gateway(upstream={"url": f"http://127.0.0.1:{port}"})
        async with gw.client.get(gw.at("/api/v1/orders")) as response:
            await error_of(response, 502, "UPSTREAM_UNAVAILABLE")
    finally:
        server.close()
        await server.wait_closed()


# -- refused before forwarding ---------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversize_body_is_413_and_never_forwarded(
    start_gateway, upstream, stacks_signer, chunked
):
    gw = await start_gateway(upstream={"url": upstream.url}, limits={"max_body_bytes": 4096})
    created = await create_api_key(gw, stacks_signer)
    body = json.dumps(signed_order(stacks_signer, memo="x" * 5000)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    async with gw.client.post(
        gw.at("/api/v1/orders/new"),
        data=chunks() if chunked else body,
        headers={"X-API-Key": created["apiKey"]},
    ) as response:
        result = await error_of(response, 413, "PAYLOAD_TOO_LARGE")
        assert result["error"] == "Request body too large"
    assert upstream.received == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/admin"),
        ("GET", "/api/v1/secret"),
        ("DELETE", "/api/v1/secret"),
        ("GET", "/api/v1/orders/abc/extra"),
        ("GET", "/api/v1/orders/"),
        ("GET", "/metrics"),
    ],
)
async def test_unknown_route_is_404_and_upstream_sees_nothing(proxied, upstream, method, path):
    async with proxied.client.request(method, proxied.at(path)) as response:
        await error_of(response, 404, "NOT_FOUND")
    assert upstream.received == []


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/api/v1/orders", "GET"),
        ("DELETE", "/api/v1/orders/abc", "GET"),
        ("PUT", "/api/v1/orders/abc/execute", "POST"),
        ("GET", "/api/v1/orders/abc/cancel", "PATCH"),
        ("PATCH", "/api/v1/orders/new", "GET, POST"),  # the {uuid} route matches "new" too
        ("HEAD", "/api/v1/orders", "GET"),
        ("OPTIONS", "/api/v1/orders/abc/execute", "POST"),
    ],
)
async def test_wrong_method_on_a_route_is_405_with_allow_and_never_forwarded(
    proxied, upstream, method, path, allowed
):
    async with proxied.client.request(method, proxied.at(path)) as response:
        assert response.status == 405
        assert response.headers["Allow"] == allowed
        if method != "HEAD":
            body = await error_of(response, 405, "METHOD_NOT_ALLOWED")
            assert body["details"]["allowed"] == allowed.split(", ")
    assert upstream.received == []


async def test_unknown_route_is_404_not_found(proxied, upstream):
    async with proxied.client.get(proxied.at("/api/v1/admin/users")) as response:
        body = await error_of(response, 404, "NOT_FOUND")
        assert body["error"] == "Not found"
    assert upstream.received == []


# -- operations ---------------------------------------------------------------------------


async def test_health_and_readiness_on_the_admin_listener(gateway):
    async with gateway.client.get(gateway.admin_url + "/healthz") as response:
        assert response.status == 200
    async with gateway.client.get(gateway.admin_url + "/readyz") as response:
        body = await response.json()
        assert response.status == 200, body
        assert set(body["checks"].values()) == {"ok"}
    async with gateway.client.get(gateway.admin_url + "/metrics") as response:
        assert response.status == 200
        assert "walletgate_" in await response.text()
    async with gateway.client.get(gateway.at("/healthz")) as response:
        assert response.status == 404  # operations stay off the public listener


async def test_openapi_document_is_served_on_the_main_listener(gateway):
    async with gateway.client.get(gateway.at("/openapi.json")) as response:
        assert response.status == 200
        document = await response.json()
    assert document["openapi"].startswith("3.")
    for path in ("/api/v1/orders/new", "/api/v1/orders/{uuid}/execute", "/api/v1/api-keys"):
        assert path in document["paths"], path
    assert gateway.backend_requests == []


# -- bad input: always a 4xx with the error body, never a 500, never a changed store ----------

BAD_BODIES = {
    "malformed json": b'{"message": ',
    "invalid utf-8": b'{"message": "\xff\xfe", "owner": "\xc3"}',
    "json array": b"[1, 2, 3]",
    "json string": b'"hello"',
    "json null": b"null",
    "deep nesting": b"[" * 20000 + b"]" * 20000,
    "nan": b'{"message": NaN, "signature": Infinity}',
    "huge number": b'{"message": 1e999999, "owner": 123456789012345678901234567890}',
    "empty": b"",
    "wrong types": b'{"message": 123, "signature": ["x"], "walletAddress": {}, "owner": 5}',
    "missing fields": b'{"message": "{}"}',
    "huge strings": json.dumps({"message": "m" * 30000, "signature": "ab" * 10000}).encode(),
    "not json at all": b"\x00\x01\x02 binary",
}

BODY_ROUTES = [
    ("POST", "/api/v1/api-keys", False),
    ("DELETE", "/api/v1/api-keys/key-1", False),
    ("POST", "/api/v1/api-keys/key-1/rotate", False),
    ("POST", "/api/v1/orders/new", False),
    ("POST", "/api/v1/orders/new", True),
    ("POST", "/api/v1/orders/order-1/execute", False),
    ("PATCH", "/api/v1/orders/order-1/cancel", False),
    ("POST", "/api-key/generate", False),
    ("POST", "/api-key/revoke", False),
]


async def assert_refused(response: aiohttp.ClientResponse, label: str) -> dict[str, Any]:
    raw = await response.read()
    assert 400 <= response.status < 500, f"{label}: {response.status} {raw[:300]!r}"
    body = json.loads(raw)
    assert set(body) >= ERROR_KEYS, f"{label}: {body}"
    assert "Traceback" not in raw.decode(errors="replace")
    return body


async def stored_keys(gateway: RunningGateway) -> list[ApiKey]:
    """The store's keys, minus usage accounting: a refused request made with a
    key still counts as its use, and a usage flush may land at any moment."""
    keys = await gateway.gw.store.list_keys(wallet=None, status=None)
    return [replace(key, usage=UsageStats(), last_used_at=None) for key in keys]


@pytest.mark.parametrize(("method", "path", "with_key"), BODY_ROUTES)
async def test_bad_bodies_get_a_4xx_error_body(gateway, stacks_signer, method, path, with_key):
    headers = {"Content-Type": "application/json"}
    if with_key:
        headers["X-API-Key"] = (await create_api_key(gateway, stacks_signer))["apiKey"]
    keys_before = await stored_keys(gateway)
    for label, raw in BAD_BODIES.items():
        async with gateway.client.request(
            method, gateway.at(path), data=raw, headers=headers
        ) as response:
            body = await assert_refused(response, label)
            if path.startswith("/api-key/"):
                assert body["success"] is False
    assert await stored_keys(gateway) == keys_before
    assert [r["path"] for r in gateway.backend_requests if r["method"] != "GET"] == []


@pytest.mark.parametrize(
    "fields",
    [
        {"keyName": 123, "permissions": ["create"]},
        {"keyName": "k" * 10000, "permissions": ["create"]},
        {"keyName": "", "permissions": ["create"]},
        {"keyName": "bot", "permissions": "create"},
        {"keyName": "bot", "permissions": ["create", "withdraw"]},
        {"keyName": "bot", "permissions": [None]},
        {"keyName": "bot", "permissions": ["create"], "ipAllowlist": ["10.0.0.0/99"]},
        {"keyName": "bot", "permissions": ["create"], "ipAllowlist": "10.0.0.0/8"},
        {"keyName": "bot", "permissions": ["create"], "expiresAt": "next tuesday"},
        {"keyName": "bot", "permissions": ["create"], "expiresAt": 10**30},
        # Parses, but lies past 9999-12-31T23:59:59.999999 once in UTC.
        {"keyName": "bot", "permissions": ["create"], "expiresAt": "9999-12-31T23:59:59-23:59"},
        {"keyName": "bot", "permissions": ["create"], "rateLimit": -1},
        {"keyName": "bot", "permissions": ["create"], "rateLimit": 10**40},
        {"keyName": "bot", "permissions": ["create"], "rateLimit": "100"},
        {"permissions": ["create"]},
    ],
)
async def test_signed_key_request_with_bad_fields_is_refused(gateway, stacks_signer, fields):
    body = signed_body(stacks_signer, "create_api_key", fields, now_ms=int(gateway.clock() * 1000))
    async with gateway.client.post(gateway.at("/api/v1/api-keys"), json=body) as response:
        await assert_refused(response, str(fields)[:80])
    assert await gateway.gw.store.list_keys(wallet=None, status=None) == []


@pytest.mark.parametrize(
    "change",
    [
        {"walletAddress": "SP123"},
        {"walletAddress": "0xZZ" + "0" * 38},
        {"walletAddress": "ST000000000000000000002AMW42H"},
        {"walletAddress": "SX1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM"},
        {"walletAddress": "S" * 5000},
        {"signature": "zz" * 65},
        {"signature": "00" * 10},
        {"signature": "00" * 65},
        {"signature": ""},
        {"message": "not json"},
        {"message": '{"action": "create_api_key"}'},
        {"message": '{"action": "create_api_key", "timestamp": "soon", "keyName": "x"}'},
    ],
)
async def test_signed_body_with_bad_parts_is_refused(gateway, stacks_signer, change):
    fields = {"keyName": "bot", "permissions": ["create"]}
    body = signed_body(stacks_signer, "create_api_key", fields, now_ms=int(gateway.clock() * 1000))
    async with gateway.client.post(gateway.at("/api/v1/api-keys"), json=body | change) as r:
        await assert_refused(r, str(change)[:80])
    assert await gateway.gw.store.list_keys(wallet=None, status=None) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": ""},
        {"X-API-Key": "ck_live_"},
        {"X-API-Key": "ck_live_" + "z" * 8000},
        {"X-API-Key": "stk_0000"},
        {"X-API-Key": "caf\u00e9"},
        {"X-Message": "{", "X-Signature": "00", "X-Wallet-Address": "SP1"},
        {"X-Message": '{"action":"list_api_keys"}', "X-Signature": "nothex"},
        {"X-Message": "[]", "X-Signature": "00" * 65, "X-Wallet-Address": "0x" + "0" * 40},
    ],
)
async def test_bad_credential_headers_are_refused_everywhere(gateway, headers):
    targets = [
        ("GET", "/api/v1/api-keys"),
        ("GET", "/api/v1/api-keys/key-1"),
        ("GET", "/api/v1/orders"),
        ("POST", "/api/v1/orders/order-1/execute"),
        ("POST", "/api-key/generate"),
    ]
    for method, path in targets:
        async with gateway.client.request(method, gateway.at(path), headers=headers) as r:
            if path == "/api/v1/orders" and "X-API-Key" not in headers:
                assert r.status == 200  # signature headers mean nothing on a public read
                continue
            await assert_refused(r, f"{method} {path} {headers}"[:120])
    assert [r for r in gateway.backend_requests if r["path"] != "/api/v1/orders"] == []


@pytest.mark.parametrize(
    "head",
    [
        b"GET /api/v1/orders HTTP/1.1\r\nHost: gw\r\nX-API-Key: ck_live_\xff\xfe\xfd\r\n",
        b'GET /api/v1/api-keys HTTP/1.1\r\nHost: gw\r\nX-Message: {"a":"\xff"}\r\n'
        b"X-Signature: 00\r\nX-Wallet-Address: SP\xc3\r\n",
        b"POST /api-key/generate HTTP/1.1\r\nHost: gw\r\nX-API-Key: \xff\r\n"
        b"X-Wallet-Address: 0x\xff\r\nContent-Length: 0\r\n",
        b"POST /api/v1/orders/new HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\n\xff\xfe{",
    ],
)
async def test_non_utf8_request_bytes_get_a_4xx_error_body(gateway, head):
    if b"\r\n\r\n" not in head:
        head += b"\r\n"
    status, body = await raw_exchange(
        gateway, head.replace(b"Host: gw", b"Host: gw\r\nConnection: close")
    )
    assert 400 <= status < 500, (status, body)
    assert set(json.loads(body)) >= ERROR_KEYS
    assert gateway.backend_requests == []


async def test_non_utf8_request_id_is_replaced_not_refused(gateway):
    head = b"GET /api/v1/orders HTTP/1.1\r\nHost: gw\r\nX-Request-ID: \xff\xfe\r\n"
    status, _ = await raw_exchange(gateway, head + b"Connection: close\r\n\r\n")
    assert status == 200
    [seen] = gateway.backend_requests
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", seen["headers"]["X-Request-ID"])


# Rejected by aiohttp's HTTP parser before any middleware runs: a plain 400.
PARSER_LEVEL_GARBAGE = {
    "huge header": b"GET /api/v1/orders HTTP/1.1\r\nHost: gw\r\nX-API-Key: " + b"k" * 40000,
    "non-utf-8 path": b"GET /api/v1/orders/\xff\xfe HTTP/1.1\r\nHost: gw",
}


@pytest.mark.parametrize("head", PARSER_LEVEL_GARBAGE.values(), ids=PARSER_LEVEL_GARBAGE.keys())
async def test_parser_level_garbage_is_refused_with_400_never_500(gateway, head):
    status, _ = await raw_exchange(gateway, head + b"\r\nConnection: close\r\n\r\n")
    assert status == 400
    assert gateway.backend_requests == []


@pytest.mark.parametrize("head", PARSER_LEVEL_GARBAGE.values(), ids=PARSER_LEVEL_GARBAGE.keys())
async def test_parser_level_garbage_gets_the_error_body(gateway, head):
    _, body = await raw_exchange(gateway, head + b"\r\nConnection: close\r\n\r\n")
    assert set(json.loads(body)) >= ERROR_KEYS


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_last_representable_expiry_is_stored_and_read_back(
    start_gateway, postgres_database, stacks_signer, backend
):
    store = {"url": postgres_database} if backend == "postgresql" else {}
    gw = await start_gateway(store=store)
    fields = {"keyName": "far", "expiresAt": "9999-12-31T23:59:59+23:59"}
    body = signed_body(stacks_signer, "create_api_key", fields, now_ms=int(gw.clock() * 1000))
    async with gw.client.post(gw.at("/api/v1/api-keys"), json=body) as response:
        created = await response.json()
        assert response.status == 201, created
    stored = await gw.gw.store.get(created["keyId"])
    assert stored is not None and stored.expires_at is not None
    assert stored.expires_at.isoformat() == "9999-12-31T00:00:59+00:00"
    async with gw.client.get(
        gw.at("/api/v1/orders"), headers={"X-API-Key": created["apiKey"]}
    ) as r:
        assert r.status == 200
