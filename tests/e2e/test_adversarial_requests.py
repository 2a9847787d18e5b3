"""Adversarial requests: the gateway forwards exactly what it authorised.

Raw sockets on both sides: the client sends request lines no library would,
and a raw-socket upstream records the target exactly as it arrived.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator

import pytest

from tests.conftest import RunningGateway, create_api_key, signed_order
from tests.support.forwarding_support import ERROR_KEYS
from tests.support.raw_upstream import RawRequest, RawUpstream, answer, echo, raw_request

ORDERS = "/api/v1/orders"


@pytest.fixture
async def raw_upstream() -> AsyncIterator[RawUpstream]:
    upstream = await RawUpstream().start()
    yield upstream
    await upstream.close()


@pytest.fixture
async def gw(start_gateway, raw_upstream: RawUpstream) -> RunningGateway:
    return await start_gateway(upstream={"url": raw_upstream.url, "timeout_s": 5.0})


def request_line(method: str, target: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: gateway.test", "Connection: close", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- the target forwarded is the target authorised ----------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://internal-admin.local/api/v1/orders",  # absolute-form, foreign authority
        "http://gateway.test/api/v1/orders",  # absolute-form even for our own name
        "//internal-admin.local/api/v1/orders",  # scheme-relative: no route has it
        "/api/v1/orders/%2e%2e",
        "/api/v1/orders/%2E%2E",
        "/api/v1/orders/.%2e",
        "/api/v1/orders/..",
        "/api/v1/orders/./abc",
        "/api/v1/orders/%2e",
        "/api/v1/orders/x/../../admin",
        "/api/v1/orders/a%2fb",
        "/api/v1/orders/a%2Fb/execute",
        "/api/v1/orders/a%5cb",
        "/api/v1/orders/a\\b",
        "/api/v1/orders/abc#fragment",
        "/api/v1/orders/%ff%fe",  # not UTF-8 once decoded
        "*",
        # Encoded line breaks: no route pattern may skip them, to aiohttp's plain 404.
        "/api/v1/orders/a%0Ab/execute",
        "/api/v1/api-keys/%0D%0A/rotate",
    ],
)
async def test_ambiguous_targets_are_refused_with_400_and_never_forwarded(gw, raw_upstream, target):
    status, headers, body = await raw_request(gw, request_line("GET", target))
    assert status in (400, 404), body
    # Every refusal is walletgate's own: its JSON error body, and the request's
    # id unless the listener refused the request line before there was a request.
    error = json.loads(body)
    assert set(error) >= ERROR_KEYS
    if error["details"].get("reason") != "malformed HTTP":
        assert "x-request-id" in headers
    if status == 400:
        assert error["code"] == "BAD_REQUEST"
    assert raw_upstream.received == []


@pytest.mark.parametrize(
    "target",
    [
        "http://internal-admin.local/api/v1/orders",
        "/api/v1/orders/%2e%2e",
        "/api/v1/orders/a%2fb",
        "/api/v1/orders/a\\b",
        "/api/v1/orders/abc#fragment",
    ],
)
async def test_each_target_trick_gets_the_invalid_target_error(gw, raw_upstream, target):
    status, _, body = await raw_request(gw, request_line("GET", target))
    assert status == 400
    assert json.loads(body)["error"] == "Invalid request target"
    assert raw_upstream.received == []


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        ("/api/v1/orders?status=open&owner=SP1%2BX", "/api/v1/orders?status=open&owner=SP1%2BX"),
        ("/api/v1/orders/%61bc", "/api/v1/orders/abc"),  # rebuilt from the matched path
        ("/api/v1/orders/abc?q=%2e%2e%2Fx", "/api/v1/orders/abc?q=%2e%2e%2Fx"),  # query as sent
        ("/api/v1/orders/a:b@c", "/api/v1/orders/a:b@c"),
    ],
)
async def test_the_forwarded_target_is_the_matched_path_in_origin_form(
    gw, raw_upstream, sent, forwarded
):
    status, _, body = await raw_request(gw, request_line("GET", sent))
    assert status == 200, body
    assert [r.target for r in raw_upstream.received] == [forwarded]


# -- headers and bodies the upstream must never act on ------------------------------------


CLAIMS = (
    "Forwarded: for=10.9.9.9;proto=https;host=admin.internal",
    "X-Real-IP: 10.9.9.9",
    "True-Client-IP: 10.9.9.9",
    "Client-IP: 10.9.9.9",
    "X-Client-IP: 10.9.9.9",
    "X-HTTP-Method-Override: DELETE",
    "X-HTTP-Method: DELETE",
    "X-Method-Override: DELETE",
    "X-Original-URL: /api/v1/admin",
    "X-Rewrite-URL: /api/v1/admin",
)


async def test_identity_and_method_override_claims_never_reach_the_upstream(gw, raw_upstream):
    status, _, body = await raw_request(gw, request_line("GET", f"{ORDERS}/abc", *CLAIMS))
    assert status == 200, body
    (received,) = raw_upstream.received
    for claim in CLAIMS:
        assert claim.split(":")[0] not in received.headers
    assert received.headers["X-Forwarded-For"] == "127.0.0.1"
    assert received.method == "GET"


UNDERSCORED = (
    "X-Gateway_Wallet: SPFORGED",
    "X_Gateway_Key_Id: wgk_forged",
    "X-Forwarded_For: 10.9.9.9",
    "X-HTTP-Method_Override: DELETE",
    "X-Original_URL: /api/v1/admin",
    "X_Custom_Trace: dropped too",
)


async def test_underscore_spellings_of_stripped_headers_never_reach_the_upstream(gw, raw_upstream):
    """CGI, WSGI and Rack read `_` as `-`: no name with `_` is passed on (as nginx)."""
    status, _, body = await raw_request(gw, request_line("GET", f"{ORDERS}/abc", *UNDERSCORED))
    assert status == 200, body
    (received,) = raw_upstream.received
    assert not [name for name in received.headers if "_" in name], received.headers
    assert received.headers["X-Forwarded-For"] == "127.0.0.1"
    assert received.headers["X-Gateway-Auth"] == "public"
    assert "X-Gateway-Wallet" not in received.headers


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_get_with_a_body_is_refused_and_never_forwarded(gw, raw_upstream, chunked):
    if chunked:
        head = request_line("GET", f"{ORDERS}/abc", "Transfer-Encoding: chunked")
        head += b"5\r\nhello\r\n0\r\n\r\n"
    else:
        head = request_line("GET", f"{ORDERS}/abc", body=b'{"owner": "someone"}')
    status, _, body = await raw_request(gw, head)
    assert status == 400
    assert json.loads(body)["code"] == "BAD_REQUEST"
    assert raw_upstream.received == []


# -- request bodies: bytes and their label agree --------------------------------------------


async def test_a_gzip_request_body_is_forwarded_as_sent_with_its_label(
    gw, raw_upstream, stacks_signer
):
    async def owner_then_echo(request: RawRequest, writer) -> None:  # type: ignore[no-untyped-def]
        if request.method == "GET":
            body = json.dumps({"data": {"owner": stacks_signer.address}}).encode()
            writer.write(answer(200, body))
        else:
            writer.write(echo(request))

    raw_upstream.script = owner_then_echo
    created = await create_api_key(gw, stacks_signer)
    compressed = gzip.compress(b'{"note": "execute please"}')
    head = request_line(
        "POST",
        f"{ORDERS}/u-1/execute",
        f"X-API-Key: {created['apiKey']}",
        "Content-Encoding: gzip",
        "Content-Type: application/json",
        body=compressed,
    )
    status, _, body = await raw_request(gw, head)
    assert status == 200, body
    forwarded = [r for r in raw_upstream.received if r.method == "POST"]
    assert [(r.body, r.headers.get("Content-Encoding")) for r in forwarded] == [
        (compressed, "gzip")
    ]


async def test_an_encoded_body_is_refused_where_the_gateway_reads_it(
    gw, raw_upstream, stacks_signer
):
    order = json.dumps(signed_order(stacks_signer)).encode()
    head = request_line(
        "POST",
        f"{ORDERS}/new",
        "Content-Encoding: gzip",
        "Content-Type: application/json",
        body=gzip.compress(order),
    )
    status, _, body = await raw_request(gw, head)
    assert status == 400
    assert json.loads(body)["code"] == "BAD_REQUEST"
    assert raw_upstream.received == []
