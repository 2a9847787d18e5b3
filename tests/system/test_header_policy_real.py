"""Whatever carries the traffic, the upstream receives the same header set.

One hostile request (method and path overrides, client-address claims,
forged and extra X-Gateway-* and X-Forwarded-* headers, decision headers,
underscore spellings of stripped names) goes through walletgate in proxy
mode and through real nginx, Caddy and Traefik running the configurations
`walletgate ingress` prints, to a raw upstream that records every header
line as it arrived. The header sets must be equal, values included, apart
from framing fields each carrier writes its own way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from multidict import CIMultiDict

from gateway.upstream.header_policy import STRIPPED_NAMES
from gateway.wallets.signing import StacksSigner
from tests.conftest import STACKS_KEY, RunningGateway, create_api_key
from tests.support.ingress_support import running_ingress
from tests.support.raw_upstream import RawUpstream

TRUSTED = {"mode": "auth", "trusted_proxies": ("127.0.0.1/32",)}
PATH = "/api/v1/orders?owner=hostile"
# Named by the issue, then the rest of the class.
HOSTILE = (
    ("X-HTTP-Method-Override", "DELETE"),
    ("X-HTTP-Method", "DELETE"),
    ("X-Method-Override", "DELETE"),
    ("X-Original-URL", "/api/v1/orders/o-1/cancel"),
    ("X-Rewrite-URL", "/api/v1/orders/o-1/cancel"),
    ("X-Original-URI", "/api/v1/orders/o-1/cancel"),
    ("Forwarded", "for=198.51.100.7;proto=https"),
    ("X-Real-IP", "198.51.100.7"),
    ("True-Client-IP", "198.51.100.7"),
    ("Client-IP", "198.51.100.7"),
    ("X-Client-IP", "198.51.100.7"),
    ("X-Cluster-Client-IP", "198.51.100.7"),
    ("CF-Connecting-IP", "198.51.100.7"),
    ("Fastly-Client-IP", "198.51.100.7"),
    ("X-Originating-IP", "198.51.100.7"),
    ("X-Forwarded-For", "198.51.100.7"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "admin.example.test"),
    ("X-Forwarded-Port", "8443"),
    ("X-Forwarded-Prefix", "/admin"),
    ("X-Forwarded-Server", "admin"),
    ("X-Gateway-Wallet", "SPFORGED"),
    ("X-Gateway-Key-Id", "wgk_forged"),
    ("X-Gateway-Auth", "api_key"),
    ("X-Walletgate-Decision-Id", "forged-decision-0001"),
    ("X-Walletgate-Denial", "forged"),
    ("X-Signature", "0xforged"),
    ("X-Message", "forged"),
    ("X-Wallet-Address", "SPFORGED"),
    ("X-Public-Key", "02forged"),
)
# A stripped name after `_` -> `-` and case folding (issue 21, item 5).
UNDERSCORED = (
    ("X-Gateway_Wallet", "SPFORGED"),
    ("X_Gateway_Key_Id", "wgk_forged"),
    ("X-Forwarded_For", "198.51.100.7"),
    ("X-HTTP-Method_Override", "DELETE"),
    ("X-Original_URL", "/api/v1/orders/o-1/cancel"),
    ("X_API_Key", "forged"),
)
# Names under a stripped prefix that no list names: nginx cannot remove them.
UNNAMED = (("X-Gateway-Role", "admin"), ("X-Forwarded-Evil", "1"))
BENIGN = (("X-Custom-Trace", "kept"), ("Accept", "application/json"), ("X-Request-ID", "hp-0001"))
# Framing each carrier writes its own way (hop-by-hop, length, agent, encoding).
FRAMING = {"connection", "content-length", "user-agent", "accept-encoding", "host"}


@pytest.fixture
async def upstream() -> AsyncIterator[RawUpstream]:
    raw = await RawUpstream().start()
    yield raw
    await raw.close()


async def send(url: str, headers: tuple[tuple[str, str], ...]) -> tuple[int, bytes]:
    """One raw request (underscore names and all, exactly as written); status and body."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"GET {PATH} HTTP/1.1", f"Host: {host}:{port}", *(f"{n}: {v}" for n, v in headers)]
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(("\r\n".join([*lines, "Connection: close", "", ""])).encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def received(upstream: RawUpstream) -> CIMultiDict[str]:
    (seen,) = [r for r in upstream.received if r.target == PATH]
    upstream.received.clear()
    return seen.headers


def header_set(headers: CIMultiDict[str]) -> dict[str, tuple[str, ...]]:
    return {
        name.lower(): tuple(headers.getall(name)) for name in headers if name.lower() not in FRAMING
    }


async def through(gw: RunningGateway, upstream: RawUpstream, extra: tuple) -> dict:
    key = await create_api_key(gw, _signer())
    status, body = await send(gw.url, (("X-API-Key", key["apiKey"]), *extra))
    assert status == 200, body
    saw = header_set(received(upstream))
    # The identity is the one walletgate decided, whoever carried the request.
    assert saw.pop("x-gateway-key-id") == (key["keyId"],)
    return saw


def _signer() -> StacksSigner:
    return StacksSigner(STACKS_KEY)


@pytest.fixture(params=["nginx", "caddy", "traefik"])
async def ingress(
    request, start_gateway, upstream: RawUpstream, tmp_path: Path
) -> AsyncIterator[RunningGateway]:
    gw = await start_gateway(listen=TRUSTED, upstream={"url": upstream.url})
    root = tmp_path / request.param
    async with running_ingress(request.param, upstream.url, gw.url, root) as url:
        yield dataclasses.replace(gw, url=url)


async def test_every_ingress_passes_the_header_set_proxy_mode_passes(
    ingress, start_gateway, upstream
):
    proxy = await start_gateway(upstream={"url": upstream.url})
    sent = (*HOSTILE, *UNDERSCORED, *BENIGN)
    by_proxy = await through(proxy, upstream, sent)
    by_ingress = await through(ingress, upstream, sent)
    assert by_ingress == by_proxy
    stripped = {name.lower() for name in STRIPPED_NAMES} - {"x-request-id"}
    assert not stripped & set(by_proxy)
    assert by_proxy["x-forwarded-for"] == ("127.0.0.1",)
    assert by_proxy["x-gateway-wallet"] == (_signer().address,)
    assert by_proxy["x-custom-trace"] == ("kept",)
    assert not [name for name in by_proxy if "_" in name]


async def test_unnamed_gateway_headers_are_removed_or_the_request_refused(
    ingress, start_gateway, upstream, request
):
    """Caddy and Traefik remove any X-Gateway-* / X-Forwarded-* by pattern, as proxy
    mode does; nginx cannot, so walletgate refuses the request: it never arrives."""
    proxy = await start_gateway(upstream={"url": upstream.url})
    sent = (*UNNAMED, *BENIGN)
    by_proxy = await through(proxy, upstream, sent)
    assert not {name.lower() for name, _ in UNNAMED} & set(by_proxy)
    if request.node.callspec.params["ingress"] != "nginx":
        assert await through(ingress, upstream, sent) == by_proxy
        return
    key = await create_api_key(ingress, _signer())
    status, body = await send(ingress.url, (("X-API-Key", key["apiKey"]), *sent))
    assert status == 400, body
    error = json.loads(body)
    assert error["code"] == "BAD_REQUEST" and error["details"]["header"] == UNNAMED[0][0]
    assert not [r for r in upstream.received if r.target == PATH]
