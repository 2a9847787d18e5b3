"""Per-IP charges before expensive work, the per-wallet key cap, and a replay
set one client cannot fill (throwaway wallets cost nothing; addresses do).

The gateway trusts 127.0.0.1 as its proxy, so X-Forwarded-For names the client.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime

import pytest

from gateway.config import ServiceKeySettings
from gateway.keys.token import generate_api_key
from gateway.wallets.signing import EvmSigner, StacksSigner, signed_body
from tests.conftest import RunningGateway, create_api_key, now_ms
from tests.support.key_api import Reply, call, mid_minute_clock, tick

PROXY = {"trusted_proxies": ["127.0.0.1/32"]}
FLOODER, VICTIM = "10.0.0.1", "10.0.0.2"


def throwaway() -> StacksSigner:
    return StacksSigner(secrets.token_hex(32) + "01")


async def signed_list(gw: RunningGateway, signer: StacksSigner, ip: str) -> Reply:
    tick(gw)
    body = signed_body(signer, "list_api_keys", now_ms=now_ms(gw))
    return await call(gw, "GET", "/api/v1/api-keys", json=body, headers={"X-Forwarded-For": ip})


async def signed_create(
    gw: RunningGateway, signer: StacksSigner, ip: str, **fields: object
) -> Reply:
    tick(gw)
    body = signed_body(signer, "create_api_key", {"keyName": "k", **fields}, now_ms=now_ms(gw))
    return await call(gw, "POST", "/api/v1/api-keys", json=body, headers={"X-Forwarded-For": ip})


async def test_a_flood_of_throwaway_wallets_cannot_fill_the_replay_set(
    start_gateway, stacks_signer
):
    gw = await start_gateway(
        clock=mid_minute_clock(),
        listen=PROXY,
        signatures={"replay_cache_size": 30},
        rate_limits={"ip_signed_per_minute": 10},
    )
    flood = [await signed_list(gw, throwaway(), FLOODER) for _ in range(40)]

    statuses = [reply.status for reply in flood]
    assert statuses == [200] * 10 + [429] * 30
    assert {reply.body["details"]["scope"] for reply in flood[10:]} == {"ip_signed"}
    assert len(gw.gw.replay) <= 10  # type: ignore[arg-type]
    # Another client's signed request is served, not refused with 503.
    victim = await signed_list(gw, stacks_signer, VICTIM)
    assert victim.status == 200, victim.body


async def test_ip_is_charged_before_the_signature_is_checked(start_gateway, stacks_signer):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"ip_signed_per_minute": 3}
    )
    for _ in range(3):
        tick(gw)
        forged = signed_body(stacks_signer, "list_api_keys", now_ms=now_ms(gw))
        forged["signature"] = "00" * 65
        reply = await call(
            gw, "GET", "/api/v1/api-keys", json=forged, headers={"X-Forwarded-For": FLOODER}
        )
        assert reply.status == 401
    genuine = await signed_list(gw, stacks_signer, FLOODER)
    assert (genuine.status, genuine.body["code"]) == (429, "RATE_LIMITED")
    assert genuine.body["details"]["scope"] == "ip_signed"
    elsewhere = await signed_list(gw, stacks_signer, VICTIM)
    assert elsewhere.status == 200


async def test_key_creation_has_its_own_tighter_ip_ceiling(start_gateway):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"ip_key_creation_per_minute": 3}
    )
    made = [await signed_create(gw, throwaway(), FLOODER) for _ in range(5)]
    assert [r.status for r in made] == [201, 201, 201, 429, 429]
    assert made[3].body["details"]["scope"] == "ip_key_creation"
    assert len(await gw.gw.store.list_keys()) == 3
    assert (await signed_create(gw, throwaway(), VICTIM)).status == 201


async def test_signed_order_creation_is_charged_to_the_ip(start_gateway):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"ip_signed_per_minute": 2}
    )
    from tests.conftest import signed_order

    statuses = []
    for _ in range(3):
        order = signed_order(throwaway())
        reply = await call(
            gw, "POST", "/api/v1/orders/new", json=order, headers={"X-Forwarded-For": FLOODER}
        )
        statuses.append(reply.status)
    assert statuses == [201, 201, 429]


async def test_ipv6_clients_are_counted_per_64_prefix(start_gateway):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"public_per_minute": 3}
    )
    one_subscriber = [f"2001:db8:1:2::{n:x}" for n in range(1, 5)]
    statuses = [
        (await call(gw, "GET", "/api/v1/orders", headers={"X-Forwarded-For": ip})).status
        for ip in one_subscriber
    ]
    assert statuses == [200, 200, 200, 429]
    neighbour = await call(
        gw, "GET", "/api/v1/orders", headers={"X-Forwarded-For": "2001:db8:1:3::1"}
    )
    assert neighbour.status == 200


async def test_one_client_holding_a_48_cannot_fill_the_replay_set(start_gateway, stacks_signer):
    """Counted per /64 only, 300 signed requests from 30 /64s of one /48 were
    all admitted (20 /64s filled a 200-entry replay set, and every other
    client's signed request got 503). Each /56 and each /48 is charged too,
    with a widening budget (4x, 16x), so one /48 stops at 160."""
    gw = await start_gateway(
        clock=mid_minute_clock(),
        listen=PROXY,
        # Large enough that the per-client share of the set (below) never binds.
        signatures={"replay_cache_size": 1000},
        rate_limits={"ip_signed_per_minute": 10},
    )
    # Thirty /64s, each in a /56 of its own, all in 2001:db8:aa00::/48.
    prefixes = [f"2001:db8:aa00:{n:02x}00::1" for n in range(30)]
    flood = [await signed_list(gw, throwaway(), ip) for ip in prefixes for _ in range(10)]

    statuses = [reply.status for reply in flood]
    assert statuses == [200] * 160 + [429] * 140
    assert {reply.body["details"]["scope"] for reply in flood[160:]} == {"ip_signed"}
    assert len(gw.gw.replay) == 160  # type: ignore[arg-type]
    for other in (VICTIM, "2001:db8:bb00::1", "2001:db8:aa01::1"):
        reply = await signed_list(gw, stacks_signer, other)
        assert reply.status == 200, (other, reply.body)


async def test_one_client_past_its_rate_limits_still_cannot_fill_the_replay_set(
    start_gateway, stacks_signer
):
    """Whatever lets one client sign a lot (generous ceilings, many keys, a
    wide prefix), once the set is half full a client holding a sixteenth of
    it is refused, and everyone else is still served."""
    gw = await start_gateway(
        clock=mid_minute_clock(),
        listen=PROXY,
        signatures={"replay_cache_size": 64},
        rate_limits={"ip_signed_per_minute": 1000},
    )
    flood = [await signed_list(gw, throwaway(), FLOODER) for _ in range(80)]
    statuses = [reply.status for reply in flood]
    assert statuses == [200] * 32 + [503] * 48
    assert {reply.body["code"] for reply in flood[32:]} == {"SERVICE_UNAVAILABLE"}
    for other in (VICTIM, "10.0.0.3", "2001:db8:ee00::1", "2001:db8:ee01::1"):
        reply = await signed_list(gw, stacks_signer, other)
        assert reply.status == 200, (other, reply.body)


async def test_the_64s_of_one_56_share_four_times_one_64s_budget(start_gateway):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"ip_signed_per_minute": 3}
    )
    # Six /64s of 2001:db8:cc00:100::/56: 12 admitted, then the /56 is spent.
    one_56 = [f"2001:db8:cc00:1{n:02x}::7" for n in range(6)]
    statuses = [(await signed_list(gw, throwaway(), ip)).status for ip in one_56 for _ in range(3)]
    assert statuses == [200] * 12 + [429] * 6
    # The next /56 of the same /48 has its own budget.
    assert (await signed_list(gw, throwaway(), "2001:db8:cc00:200::7")).status == 200


async def test_public_requests_are_charged_per_prefix_too(start_gateway):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"public_per_minute": 2}
    )
    # Twenty /64s of one /48, each in its own /56: the /48 allows 16 x 2.
    prefixes = [f"2001:db8:ab00:{n:02x}00::1" for n in range(20)]
    statuses = [
        (await call(gw, "GET", "/api/v1/orders", headers={"X-Forwarded-For": ip})).status
        for ip in prefixes
        for _ in range(2)
    ]
    assert statuses == [200] * 32 + [429] * 8
    elsewhere = await call(
        gw, "GET", "/api/v1/orders", headers={"X-Forwarded-For": "2001:db8:ac00::1"}
    )
    assert elsewhere.status == 200


async def test_key_creation_is_charged_per_prefix_too(start_gateway):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"ip_key_creation_per_minute": 1}
    )
    # Twenty /64s of one /48, each in its own /56: the /48 allows 16 keys.
    prefixes = [f"2001:db8:dd00:{n:02x}00::1" for n in range(20)]
    made = [await signed_create(gw, throwaway(), ip) for ip in prefixes]
    assert [r.status for r in made] == [201] * 16 + [429] * 4
    assert made[16].body["details"]["scope"] == "ip_key_creation"
    assert len(await gw.gw.store.list_keys()) == 16


async def test_an_allowlist_entry_in_ipv4_mapped_form_is_stored_and_matched_as_ipv4(
    start_gateway, stacks_signer
):
    """`::ffff:203.0.113.0/120` used to be stored as is and never matched anyone."""
    gw = await start_gateway(clock=mid_minute_clock(), listen=PROXY)
    created = await signed_create(
        gw, stacks_signer, "127.0.0.1", ipAllowlist=["::ffff:203.0.113.0/120"]
    )
    assert created.status == 201, created.body
    assert created.body["ipAllowlist"] == ["203.0.113.0/24"]
    key = {"X-API-Key": created.body["apiKey"]}
    for client, status in [
        ("203.0.113.5", 200),
        ("::ffff:203.0.113.6", 200),
        ("198.51.100.5", 403),
        ("::ffff:198.51.100.5", 403),
    ]:
        reply = await call(gw, "GET", "/api/v1/orders", headers=key | {"X-Forwarded-For": client})
        assert reply.status == status, (client, reply.body)


# -- per-wallet cap on active keys -----------------------------------------------------------------


async def test_a_wallet_holds_at_most_max_active_keys(start_gateway, stacks_signer):
    gw = await start_gateway(clock=mid_minute_clock(), keys={"max_active_per_wallet": 3})
    keys = [await create_api_key(gw, stacks_signer, name=f"k{n}") for n in range(3)]
    tick(gw)
    over = await signed_create(gw, stacks_signer, "127.0.0.1")
    assert (over.status, over.body["code"]) == (409, "KEY_LIMIT_REACHED")
    assert over.body["details"] == {"maxActiveKeys": 3}

    # Rotation swaps one key for another: allowed at the cap.
    tick(gw)
    rotate = signed_body(
        stacks_signer, "rotate_api_key", {"keyId": keys[0]["keyId"]}, now_ms=now_ms(gw)
    )
    rotated = await call(gw, "POST", f"/api/v1/api-keys/{keys[0]['keyId']}/rotate", json=rotate)
    assert rotated.status == 201, rotated.body
    # Revoking one makes room again.
    tick(gw)
    delete = signed_body(
        stacks_signer, "delete_api_key", {"keyId": keys[1]["keyId"]}, now_ms=now_ms(gw)
    )
    assert (
        await call(gw, "DELETE", f"/api/v1/api-keys/{keys[1]['keyId']}", json=delete)
    ).status == 200
    assert (await signed_create(gw, stacks_signer, "127.0.0.1")).status == 201
    now = datetime.now(UTC)
    assert await gw.gw.store.count_active(stacks_signer.address, now) == 3


async def test_service_key_generate_obeys_the_cap(start_gateway, evm_signer):
    service_key = "svc_" + secrets.token_urlsafe(24)
    service = ServiceKeySettings(sha256=hashlib.sha256(service_key.encode()).hexdigest())
    gw = await start_gateway(
        clock=mid_minute_clock(),
        service_keys=[service],
        keys={"max_active_per_wallet": 2, "one_active_per_wallet_evm": False},
        rate_limits={"ip_key_creation_per_minute": 1},  # service callers are exempt
    )
    headers = {"X-API-Key": service_key, "X-Wallet-Address": evm_signer.address}
    replies = [await call(gw, "POST", "/api-key/generate", headers=headers) for _ in range(3)]
    assert [r.status for r in replies] == [200, 200, 409]
    assert replies[2].body["code"] == "KEY_LIMIT_REACHED"


async def test_concurrent_creations_never_pass_the_cap(start_gateway):
    signer = EvmSigner("0x" + secrets.token_hex(32))
    gw = await start_gateway(clock=mid_minute_clock(), keys={"max_active_per_wallet": 2})
    bodies = []
    for n in range(6):
        tick(gw)
        bodies.append(
            signed_body(signer, "create_api_key", {"keyName": f"k{n}"}, now_ms=now_ms(gw))
        )
    replies = await asyncio.gather(
        *(call(gw, "POST", "/api/v1/api-keys", json=body) for body in bodies)
    )
    assert sorted(r.status for r in replies) == [201, 201, 409, 409, 409, 409]
    assert await gw.gw.store.count_active(signer.address.lower(), datetime.now(UTC)) == 2


# -- unknown keys: the IP decides first, then a short negative cache ------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_unknown_keys_cost_one_store_query_and_none_once_the_ip_is_limited(
    start_gateway, postgres_database, backend
):
    store = {"url": postgres_database} if backend == "postgresql" else {}
    gw = await start_gateway(
        clock=mid_minute_clock(),
        store=store,
        keys={"unknown_key_cache_s": 60},
        rate_limits={"public_per_minute": 5},
    )
    lookups = gw.gw.store.operations
    before = lookups["get_by_hash"]
    unknown = generate_api_key("ck_live_")
    repeated = [
        await call(gw, "GET", "/api/v1/orders", headers={"X-API-Key": unknown}) for _ in range(5)
    ]
    assert [r.status for r in repeated] == [401] * 5
    assert lookups["get_by_hash"] - before == 1  # then refused from memory
    fresh = [
        await call(gw, "GET", "/api/v1/orders", headers={"X-API-Key": generate_api_key("ck_live_")})
        for _ in range(20)
    ]
    # The IP is over its quota: refused before any store query, new keys or not.
    assert {r.status for r in fresh} == {429}
    assert lookups["get_by_hash"] - before == 1
