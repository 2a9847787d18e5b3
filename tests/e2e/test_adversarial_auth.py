"""Adversarial authentication suite: escalation matrix, replay variants,
cross-wallet use and header spoofing, each asserting the outcome an attacker
gets and what the store and the upstream saw. Bounded: a few dozen requests.

The gateway trusts 127.0.0.1 as its proxy, so each test picks the client
address with X-Forwarded-For (raw sockets where two lines must be sent).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.keys.model import ApiKey, KeyStatus, Permission
from gateway.keys.token import hash_api_key
from gateway.wallets.signing import StacksSigner, signed_body, signed_headers
from tests.conftest import (
    STACKS_KEY,
    RunningGateway,
    create_api_key,
    create_order,
    now_ms,
    signed_order,
)
from tests.support.key_api import Reply, call, mid_minute_clock, tick
from tests.support.raw_http import host_port, raw_request

ALLOWED_NET = "10.1.0.0/16"
INSIDE = "10.1.0.7"
OUTSIDE = "10.2.0.9"
PROXY = {"trusted_proxies": ["127.0.0.1/32"]}


def from_ip(ip: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"X-Forwarded-For": ip, **(headers or {})}


async def stored(gw: RunningGateway, plaintext: str) -> ApiKey:
    key = await gw.gw.store.get_by_hash(hash_api_key(plaintext))
    assert key is not None
    return key


async def generate(gw: RunningGateway, api_key: str, ip: str) -> Reply:
    return await call(gw, "POST", "/api-key/generate", headers=from_ip(ip, {"X-API-Key": api_key}))


async def restricted_key(gw: RunningGateway, signer: StacksSigner, **extra: Any) -> dict[str, Any]:
    expires = datetime.fromtimestamp(gw.clock() + 3600, UTC).isoformat()
    fields = {"rateLimit": 5, "ipAllowlist": [ALLOWED_NET], "expiresAt": expires} | extra
    return await create_api_key(gw, signer, permissions=("execute",), **fields)


# -- escalation matrix: no credential creates or widens a key beyond its own rights ----------


async def test_key_generate_from_outside_the_allowlist_is_refused_and_creates_nothing(
    start_gateway, stacks_signer
):
    gw = await start_gateway(clock=mid_minute_clock(), listen=PROXY)
    parent = await restricted_key(gw, stacks_signer)
    before = await gw.gw.store.count_active(stacks_signer.address, datetime.now(UTC))

    reply = await generate(gw, parent["apiKey"], OUTSIDE)

    assert reply.status == 403, reply.body
    assert reply.body["code"] == "IP_NOT_ALLOWED"
    assert await gw.gw.store.count_active(stacks_signer.address, datetime.now(UTC)) == before


async def test_key_generate_mints_only_what_the_presenting_key_has(start_gateway, stacks_signer):
    gw = await start_gateway(clock=mid_minute_clock(), listen=PROXY)
    parent = await restricted_key(gw, stacks_signer)
    reply = await generate(gw, parent["apiKey"], INSIDE)
    assert reply.status == 200, reply.body

    child, mother = await stored(gw, reply.body["api_key"]), await stored(gw, parent["apiKey"])
    assert child.permissions == frozenset({Permission.EXECUTE})
    assert child.ip_allowlist == (ALLOWED_NET,)
    assert child.rate_limit == 5
    assert child.expires_at == mother.expires_at
    # And the minted key is held to it on use.
    order = await create_order(gw, stacks_signer)
    execute = f"/api/v1/orders/{order['uuid']}/execute"
    outside = await call(
        gw, "POST", execute, headers=from_ip(OUTSIDE, {"X-API-Key": reply.body["api_key"]})
    )
    assert (outside.status, outside.body["code"]) == (403, "IP_NOT_ALLOWED")
    create = await call(
        gw,
        "POST",
        "/api/v1/orders/new",
        json=signed_order(stacks_signer),
        headers=from_ip(INSIDE, {"X-API-Key": reply.body["api_key"]}),
    )
    assert (create.status, create.body["code"]) == (403, "PERMISSION_DENIED")


async def test_key_generate_never_outlives_the_presenting_key(start_gateway, stacks_signer):
    gw = await start_gateway(clock=mid_minute_clock(), listen=PROXY)
    parent = await restricted_key(gw, stacks_signer)
    child = (await generate(gw, parent["apiKey"], INSIDE)).body["api_key"]

    gw.clock.advance(3601)
    refused = await generate(gw, parent["apiKey"], INSIDE)
    assert (refused.status, refused.body["code"]) == (401, "API_KEY_INACTIVE")
    probe = await call(gw, "GET", "/api/v1/orders", headers=from_ip(INSIDE, {"X-API-Key": child}))
    assert (probe.status, probe.body["code"]) == (401, "API_KEY_INACTIVE")


async def test_key_generate_obeys_the_presenting_keys_rate_limit(start_gateway, stacks_signer):
    gw = await start_gateway(clock=mid_minute_clock(), listen=PROXY)
    parent = await restricted_key(gw, stacks_signer, rateLimit=1)
    used = await call(
        gw, "GET", "/api/v1/orders", headers=from_ip(INSIDE, {"X-API-Key": parent["apiKey"]})
    )
    assert used.status == 200

    reply = await generate(gw, parent["apiKey"], INSIDE)

    assert (reply.status, reply.body["code"]) == (429, "RATE_LIMITED")
    assert reply.body["details"]["scope"] == "key"


async def test_revoked_key_cannot_generate(start_gateway, stacks_signer):
    gw = await start_gateway(clock=mid_minute_clock(), listen=PROXY)
    parent = await restricted_key(gw, stacks_signer)
    await gw.gw.keys.set_status(parent["keyId"], KeyStatus.REVOKED)
    reply = await generate(gw, parent["apiKey"], INSIDE)
    assert (reply.status, reply.body["code"]) == (401, "API_KEY_INACTIVE")


async def test_rotation_copies_every_restriction(start_gateway, stacks_signer):
    gw = await start_gateway(clock=mid_minute_clock(), listen=PROXY)
    parent = await restricted_key(gw, stacks_signer)
    tick(gw)
    body = signed_body(
        stacks_signer, "rotate_api_key", {"keyId": parent["keyId"]}, now_ms=now_ms(gw)
    )
    reply = await call(gw, "POST", f"/api/v1/api-keys/{parent['keyId']}/rotate", json=body)
    assert reply.status == 201, reply.body

    successor, old = await stored(gw, reply.body["apiKey"]), await stored(gw, parent["apiKey"])
    assert successor.permissions == old.permissions == frozenset({Permission.EXECUTE})
    assert successor.ip_allowlist == old.ip_allowlist
    assert successor.rate_limit == old.rate_limit
    assert successor.expires_at == old.expires_at


@pytest.mark.parametrize(
    ("field", "value"),
    [("rateLimit", 101), ("permissions", ["create", "admin"]), ("expiresAt", "2001-01-01T00:00Z")],
)
async def test_signed_create_cannot_ask_beyond_the_ceiling(
    start_gateway, stacks_signer, field, value
):
    gw = await start_gateway(clock=mid_minute_clock())
    fields = {"keyName": "greedy", field: value}
    body = signed_body(stacks_signer, "create_api_key", fields, now_ms=now_ms(gw))
    reply = await call(gw, "POST", "/api/v1/api-keys", json=body)
    assert (reply.status, reply.body["code"]) == (400, "INVALID_MESSAGE")
    assert await gw.gw.store.list_keys(wallet=stacks_signer.address) == []


# -- replay variants ---------------------------------------------------------------------------


def other_form(signer_key: str, network: str = "mainnet") -> StacksSigner:
    """The same private key's other public-key form: another address, same signatures."""
    flipped = signer_key[:-2] if signer_key.endswith("01") else signer_key + "01"
    return StacksSigner(flipped, network=network)


async def test_one_signed_message_creates_one_key_whatever_address_form(
    start_gateway, stacks_signer
):
    gw = await start_gateway(clock=mid_minute_clock())
    body = signed_body(stacks_signer, "create_api_key", {"keyName": "once"}, now_ms=now_ms(gw))
    first = await call(gw, "POST", "/api/v1/api-keys", json=body)
    assert first.status == 201, first.body

    uncompressed = other_form(STACKS_KEY)
    assert uncompressed.sign(body["message"]) == body["signature"]
    same_key = await call(
        gw, "POST", "/api/v1/api-keys", json=body | {"walletAddress": uncompressed.address}
    )
    assert (same_key.status, same_key.body["code"]) == (401, "SIGNATURE_REPLAYED")
    for network_twin in (
        StacksSigner(STACKS_KEY, network="testnet"),
        other_form(STACKS_KEY, "testnet"),
    ):
        testnet = await call(
            gw, "POST", "/api/v1/api-keys", json=body | {"walletAddress": network_twin.address}
        )
        # Bound to the network the gateway serves (signatures.stacks_network = mainnet).
        assert (testnet.status, testnet.body["code"]) == (400, "INVALID_WALLET")
    created = await gw.gw.store.list_keys(wallet=stacks_signer.address)
    assert len(created) == 1
    assert await gw.gw.store.list_keys(wallet=uncompressed.address) == []


@pytest.mark.parametrize("form", ["body", "headers"])
async def test_exact_replay_of_a_signed_request_is_refused_in_either_form(
    start_gateway, stacks_signer, form
):
    gw = await start_gateway(clock=mid_minute_clock())
    order = await create_order(gw, stacks_signer)
    path = f"/api/v1/orders/{order['uuid']}/execute"
    headers = signed_headers(
        stacks_signer, "execute_order", {"uuid": order["uuid"]}, now_ms=now_ms(gw)
    )
    if form == "body":
        send = {
            "json": {
                "message": headers["X-Message"],
                "signature": headers["X-Signature"],
                "walletAddress": headers["X-Wallet-Address"],
            }
        }
    else:
        send = {"headers": headers}
    first = await call(gw, "POST", path, **send)
    again = await call(gw, "POST", path, **send)
    assert first.status == 200, first.body
    assert (again.status, again.body["code"]) == (401, "SIGNATURE_REPLAYED")
    executes = [r for r in gw.backend_requests if r["path"] == path]
    assert len(executes) == 1


async def test_signed_execute_cannot_be_moved_to_another_order(start_gateway, stacks_signer):
    gw = await start_gateway(clock=mid_minute_clock())
    mine, other = await create_order(gw, stacks_signer), await create_order(gw, stacks_signer)
    headers = signed_headers(
        stacks_signer, "execute_order", {"uuid": mine["uuid"]}, now_ms=now_ms(gw)
    )
    moved = await call(gw, "POST", f"/api/v1/orders/{other['uuid']}/execute", headers=headers)
    assert (moved.status, moved.body["code"]) == (401, "INVALID_SIGNATURE")


async def test_reposted_public_order_signature_is_refused_and_costs_the_owner_nothing(
    start_gateway, stacks_signer
):
    gw = await start_gateway(clock=mid_minute_clock(), listen=PROXY, rate_limits={"per_minute": 3})
    order = signed_order(stacks_signer)
    created = await call(gw, "POST", "/api/v1/orders/new", json=order, headers=from_ip(INSIDE))
    assert created.status == 201, created.body

    for _ in range(5):  # a stranger re-posts the public signed order
        replay = await call(gw, "POST", "/api/v1/orders/new", json=order, headers=from_ip(OUTSIDE))
        assert (replay.status, replay.body["code"]) == (401, "SIGNATURE_REPLAYED")
        assert replay.headers["X-RateLimit-Limit"] != "3"  # never the owner's quota
    posted = [r for r in gw.backend_requests if r["path"] == "/api/v1/orders/new"]
    assert len(posted) == 1
    # The owner's wallet scope is untouched: all 3 signed requests still go through.
    for _ in range(3):
        tick(gw)
        headers = signed_headers(
            stacks_signer, "execute_order", {"uuid": order["uuid"]}, now_ms=now_ms(gw)
        )
        own = await call(gw, "POST", f"/api/v1/orders/{order['uuid']}/execute", headers=headers)
        assert own.status in (200, 400), own.body  # executed, then "not open": never 429


# -- cross-wallet ------------------------------------------------------------------------------


async def test_one_wallets_key_and_signature_never_act_on_anothers_order(
    start_gateway, stacks_signer, other_stacks_signer
):
    gw = await start_gateway(clock=mid_minute_clock())
    victim_order = await create_order(gw, stacks_signer)
    attacker_key = (await create_api_key(gw, other_stacks_signer))["apiKey"]
    path = f"/api/v1/orders/{victim_order['uuid']}/execute"
    by_key = await call(gw, "POST", path, headers={"X-API-Key": attacker_key})
    signed = signed_headers(
        other_stacks_signer, "execute_order", {"uuid": victim_order["uuid"]}, now_ms=now_ms(gw)
    )
    by_signature = await call(gw, "POST", path, headers=signed)
    claimed = await call(
        gw, "POST", path, headers=signed | {"X-Wallet-Address": stacks_signer.address}
    )
    assert (by_key.status, by_key.body["code"]) == (403, "WALLET_MISMATCH")
    assert (by_signature.status, by_signature.body["code"]) == (403, "WALLET_MISMATCH")
    assert (claimed.status, claimed.body["code"]) == (401, "INVALID_SIGNATURE")
    assert not [r for r in gw.backend_requests if r["path"] == path]


async def test_a_key_cannot_manage_another_wallets_keys(
    start_gateway, stacks_signer, other_stacks_signer
):
    gw = await start_gateway(clock=mid_minute_clock())
    victim = await create_api_key(gw, stacks_signer)
    attacker = await create_api_key(gw, other_stacks_signer)
    reply = await call(
        gw,
        "POST",
        "/api-key/revoke",
        headers={"X-API-Key": attacker["apiKey"], "X-Wallet-Address": stacks_signer.address},
    )
    assert (reply.status, reply.body["code"]) == (403, "WALLET_MISMATCH")
    body = signed_body(
        other_stacks_signer, "delete_api_key", {"keyId": victim["keyId"]}, now_ms=now_ms(gw)
    )
    deleted = await call(gw, "DELETE", f"/api/v1/api-keys/{victim['keyId']}", json=body)
    assert (deleted.status, deleted.body["code"]) == (404, "NOT_FOUND")
    assert (await stored(gw, victim["apiKey"])).status == KeyStatus.ACTIVE


# -- header spoofing -----------------------------------------------------------------------------


async def test_a_second_forwarded_for_line_is_part_of_the_one_list(start_gateway, stacks_signer):
    """A client's own first line cannot dodge an allowlist when the trusted
    proxy appends its line (as HAProxy does): raw socket, two field lines."""
    gw = await start_gateway(clock=mid_minute_clock(), listen=PROXY)
    key = await create_api_key(gw, stacks_signer, ipAllowlist=["203.0.113.0/24"])
    order = await create_order(gw, stacks_signer)
    host, port = host_port(gw.url)
    path = f"/api/v1/orders/{order['uuid']}/execute"

    def lines(real: str) -> list[tuple[str, str]]:
        return [
            ("X-API-Key", key["apiKey"]),
            ("X-Forwarded-For", "203.0.113.5"),  # written by the client
            ("X-Forwarded-For", real),  # appended by the trusted proxy
        ]

    spoofed = await raw_request(host, port, "POST", path, lines("198.51.100.7"))
    assert spoofed.status == 403
    assert spoofed.json()["code"] == "IP_NOT_ALLOWED"
    genuine = await raw_request(host, port, "POST", path, lines("203.0.113.9"))
    assert genuine.status == 200, genuine.body
    seen = [r for r in gw.backend_requests if r["path"] == path][-1]["headers"]
    assert seen["X-Forwarded-For"] == "203.0.113.5, 203.0.113.9, 127.0.0.1"


async def test_rotating_a_spoofed_first_line_does_not_escape_the_ip_limit(start_gateway):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"public_per_minute": 3}
    )
    host, port = host_port(gw.url)
    statuses = []
    for n in range(5):
        lines = [("X-Forwarded-For", f"192.0.2.{n}"), ("X-Forwarded-For", "198.51.100.7")]
        statuses.append((await raw_request(host, port, "GET", "/api/v1/orders", lines)).status)
    assert statuses == [200, 200, 200, 429, 429]


async def test_forwarded_header_lines_are_one_list_when_configured(start_gateway, stacks_signer):
    gw = await start_gateway(
        clock=mid_minute_clock(),
        listen={"trusted_proxies": ["127.0.0.1/32"], "forwarded_header": "forwarded"},
    )
    key = await create_api_key(gw, stacks_signer, ipAllowlist=["203.0.113.0/24"])
    host, port = host_port(gw.url)
    base = [("X-API-Key", key["apiKey"]), ("X-Forwarded-For", "203.0.113.5")]
    spoofed = await raw_request(
        host,
        port,
        "GET",
        "/api/v1/orders",
        [*base, ("Forwarded", 'for="203.0.113.6"'), ("Forwarded", "for=198.51.100.7;proto=https")],
    )
    assert (spoofed.status, spoofed.json()["code"]) == (403, "IP_NOT_ALLOWED")
    genuine = await raw_request(
        host, port, "GET", "/api/v1/orders", [*base, ("Forwarded", "for=203.0.113.9:4711")]
    )
    assert genuine.status == 200, genuine.body


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored(start_gateway, stacks_signer):
    gw = await start_gateway(clock=mid_minute_clock())  # no trusted proxies
    key = await create_api_key(gw, stacks_signer, ipAllowlist=["203.0.113.0/24"])
    reply = await call(
        gw,
        "GET",
        "/api/v1/orders",
        headers={
            "X-API-Key": key["apiKey"],
            "X-Forwarded-For": "203.0.113.5",
            "Forwarded": "for=203.0.113.5",
            "X-Real-IP": "203.0.113.5",
        },
    )
    assert (reply.status, reply.body["code"]) == (403, "IP_NOT_ALLOWED")


async def test_spoofed_gateway_identity_headers_never_reach_the_upstream(
    start_gateway, stacks_signer, other_stacks_signer
):
    gw = await start_gateway(clock=mid_minute_clock())
    key = await create_api_key(gw, other_stacks_signer)
    reply = await call(
        gw,
        "GET",
        "/api/v1/orders",
        headers={
            "X-API-Key": key["apiKey"],
            "X-Gateway-Wallet": stacks_signer.address,
            "X-Gateway-Auth": "service",
            "X-Gateway-Key-Id": "key_0000000000000000",
        },
    )
    assert reply.status == 200
    seen = gw.backend_requests[-1]["headers"]
    assert seen["X-Gateway-Wallet"] == other_stacks_signer.address
    assert seen["X-Gateway-Auth"] == "api_key"
    assert seen["X-Gateway-Key-Id"] == key["keyId"]
    assert json.dumps(seen).count(stacks_signer.address) == 0
