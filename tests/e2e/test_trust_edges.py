"""The trust edges, each held by a test that fails if the edge is moved.

Mutation testing found that removing the trusted-proxy check from client-IP
resolution, or from the auth-mode decision endpoints, failed no test (every
test client connected from 127.0.0.1, the trusted proxy); nor did keeping a
replay entry one second instead of until its message expires (the in-process
guard read the real clock, not the gateway's). Here a second loopback
address, 127.0.0.2, is a peer that is not a trusted proxy, and the replay
guard runs on the clock the test moves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.wallets.signing import signed_body
from tests.conftest import RunningGateway, create_api_key, now_ms
from tests.support.key_api import Reply, assert_error, call, mid_minute_clock, tick

PROXY = "127.0.0.1"
STRANGER = "127.0.0.2"  # a loopback address of this host, but not a trusted proxy
TRUSTED = {"trusted_proxies": (f"{PROXY}/32",)}
ORDERS = "/api/v1/orders"
DECISION = {"X-Original-Method": "GET", "X-Original-URI": ORDERS}


@pytest.fixture
async def stranger() -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose socket is bound to 127.0.0.2."""
    connector = aiohttp.TCPConnector(local_addr=(STRANGER, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def send(
    session: aiohttp.ClientSession, gw: RunningGateway, path: str, headers: dict[str, str]
) -> Reply:
    async with session.get(gw.at(path), headers=headers) as response:
        text = await response.text()
        body = await response.json(content_type=None) if text else None
        return Reply(response.status, body, response.headers, text)


async def test_an_untrusted_peer_cannot_spread_itself_over_forwarded_addresses(
    start_gateway, stranger
):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=TRUSTED, rate_limits={"public_per_minute": 3}
    )
    # Per-IP limits: the stranger cannot spread itself over invented addresses.
    spoofed = [
        await send(stranger, gw, ORDERS, {"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(1, 5)
    ]
    assert [reply.status for reply in spoofed] == [200, 200, 200, 429]
    # The trusted proxy's word still counts: 198.51.100.4 has used nothing yet.
    relayed = await send(gw.client, gw, ORDERS, {"X-Forwarded-For": "198.51.100.4"})
    assert relayed.status == 200


async def test_a_trusted_proxy_naming_no_address_leaves_the_request_on_its_own_address(
    start_gateway,
):
    """A hop that is no IP address (`unknown`, an obfuscated name, junk) is never a
    client: the request counts against the proxy's own address. Every verdict is
    remembered per hop string, so each hop is sent twice: the second answer
    comes from the remembered verdict."""
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=TRUSTED, rate_limits={"public_per_minute": 4}
    )
    hops = ["unknown", "unknown", "_hidden", "_hidden", "198.51.100.300"]
    replies = [await send(gw.client, gw, ORDERS, {"X-Forwarded-For": hop}) for hop in hops]
    # One budget between them (the proxy's): the fifth is refused.
    assert [reply.status for reply in replies] == [200, 200, 200, 200, 429]
    # A real address behind the proxy has a budget of its own.
    relayed = await send(gw.client, gw, ORDERS, {"X-Forwarded-For": "198.51.100.7"})
    assert relayed.status == 200


async def test_an_untrusted_peer_cannot_name_an_allowlisted_address(
    start_gateway, stranger, stacks_signer
):
    gw = await start_gateway(listen=TRUSTED)
    key = await create_api_key(gw, stacks_signer, ipAllowlist=["203.0.113.0/24"])
    fenced = {"X-API-Key": key["apiKey"], "X-Forwarded-For": "203.0.113.5"}
    refused = await send(stranger, gw, ORDERS, fenced)
    assert_error(refused, 403, "IP_NOT_ALLOWED")
    allowed = await send(gw.client, gw, ORDERS, fenced)
    assert allowed.status == 200, allowed.body


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/_walletgate/auth", DECISION),
        (f"/_walletgate/ext_authz{ORDERS}", {}),
        ("/_walletgate/denial", {"X-Walletgate-Decision-Id": "a" * 32}),
    ],
)
async def test_auth_mode_answers_no_peer_but_a_trusted_proxy(
    start_gateway, stranger, stacks_signer, path, headers
):
    gw = await start_gateway(listen={"mode": "auth", **TRUSTED})
    key = await create_api_key(gw, stacks_signer)
    asked = headers | {"X-API-Key": key["apiKey"]}

    refused = await send(stranger, gw, path, asked)
    assert_error(refused, 403, "UNTRUSTED_PROXY")
    assert "X-Gateway-Wallet" not in refused.headers
    # The same request from the trusted proxy is answered on its merits: a
    # decision allows, a denial nobody handed over is refused for that.
    answered = await send(gw.client, gw, path, asked)
    assert (answered.body or {}).get("code") != "UNTRUSTED_PROXY", answered.body
    if "denial" not in path:
        assert answered.status == 200, answered.body
        assert answered.headers["X-Gateway-Wallet"] == stacks_signer.address


async def test_a_signed_message_stays_used_until_it_leaves_the_age_window(
    start_gateway, stacks_signer
):
    """The in-process replay guard runs on the gateway's clock: moved up to
    299 s on, inside the 300 s window, the message is still a replay."""
    gw = await start_gateway(clock=mid_minute_clock(), signatures={"max_age_s": 300})
    tick(gw)
    signed_at = gw.clock()
    body = signed_body(stacks_signer, "list_api_keys", now_ms=now_ms(gw))
    first = await call(gw, "GET", "/api/v1/api-keys", json=body)
    assert first.status == 200, first.body
    for later in (2, 120, 299):
        gw.clock.now = signed_at + later
        again = await call(gw, "GET", "/api/v1/api-keys", json=body)
        assert_error(again, 401, "SIGNATURE_REPLAYED")
    gw.clock.now = signed_at + 301
    expired = await call(gw, "GET", "/api/v1/api-keys", json=body)
    assert_error(expired, 401, "SIGNATURE_EXPIRED")
