"""Rate limits end to end: exact admission, aligned windows,
truthful headers on every kind of answer, and scopes that strangers and key
management cannot drain."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from gateway.wallets.signing import signed_headers
from tests.conftest import (
    Clock,
    RunningGateway,
    create_api_key,
    create_order,
    now_ms,
)
from tests.support.rate_limit_support import (
    IP_POLICY,
    IP_SIGNED_POLICY,
    KEY_POLICY,
    NOON,
    RESET_PREFIX,
    STREAM_CHUNKS,
    STREAM_PREFIX,
    Reply,
    assert_truthful,
    call,
    next_boundary,
    policy,
    rate_limit_headers,
    server_url,
    start_faulty_upstream,
    stream_chunk,
)

# Also on Redis + PostgreSQL, not only the embedded defaults.
pytestmark = pytest.mark.deployments

ORDERS = "/api/v1/orders"
MANAGEMENT_POLICY = policy(("minute", 5, 60), ("hour", 20, 3600))


@pytest.fixture
async def faulty_upstream(tmp_path: Path) -> AsyncIterator[TestServer]:
    server = await start_faulty_upstream(tmp_path / "faulty-orders.db")
    yield server
    await server.close()


async def keyed(gw: RunningGateway, api_key: str, method: str = "GET", path: str = ORDERS) -> Reply:
    return await call(gw.client, method, gw.at(path), headers={"X-API-Key": api_key})


async def signed_execute(gw: RunningGateway, signer, uuid: str) -> Reply:
    headers = signed_headers(signer, "execute_order", {"uuid": uuid}, now_ms=now_ms(gw))
    return await call(gw.client, "POST", gw.at(f"{ORDERS}/{uuid}/execute"), headers=headers)


def assert_rate_limited(reply: Reply, scope: str, limit: int, window: int, now: float) -> None:
    assert reply.status == 429, reply.body
    assert reply.body["code"] == "RATE_LIMITED"
    assert reply.body["details"] == {
        "scope": scope,
        "limit": limit,
        "window": window,
        "reset": next_boundary(now, window),
    }
    limits = rate_limit_headers(reply.headers)
    assert (limits.limit, limits.window, limits.remaining) == (limit, window, 0)


async def test_concurrent_burst_admits_exactly_the_minute_limit(start_gateway, stacks_signer):
    gw = await start_gateway(clock=Clock(now=NOON + 5))
    api_key = (await create_api_key(gw, stacks_signer))["apiKey"]

    replies = await asyncio.gather(*(keyed(gw, api_key) for _ in range(300)))

    assert Counter(r.status for r in replies) == {200: 100, 429: 200}
    admitted = [rate_limit_headers(r.headers).remaining for r in replies if r.status == 200]
    # Every admitted request took exactly one distinct unit of the window.
    assert sorted(admitted) == list(range(100))
    for reply in replies:
        assert_truthful(reply, gw.clock(), KEY_POLICY)
        if reply.status == 429:
            assert_rate_limited(reply, "key", 100, 60, gw.clock())
            assert reply.headers["Retry-After"] == "55"
    assert len([r for r in gw.backend_requests if r["path"] == ORDERS]) == 100


async def test_requests_either_side_of_a_minute_boundary_count_in_different_windows(
    start_gateway, stacks_signer
):
    gw = await start_gateway(clock=Clock(now=NOON + 59.999))
    api_key = (await create_api_key(gw, stacks_signer, rateLimit=2))["apiKey"]
    two = policy(("minute", 2, 60), ("hour", 1000, 3600), ("day", 10000, 86400))

    first, second, refused = [await keyed(gw, api_key) for _ in range(3)]
    assert [first.status, second.status] == [200, 200]
    assert [assert_truthful(r, gw.clock(), two).remaining for r in (first, second)] == [1, 0]
    assert_rate_limited(refused, "key", 2, 60, gw.clock())
    assert refused.body["details"]["reset"] == NOON + 60
    assert refused.headers["Retry-After"] == "1"

    gw.clock.now = NOON + 60.0
    fresh = await keyed(gw, api_key)
    assert fresh.status == 200
    limits = assert_truthful(fresh, gw.clock(), two)
    assert (limits.remaining, limits.reset, limits.t) == (1, NOON + 120, 60)


async def test_hour_and_day_windows_bind_when_the_minute_has_room(start_gateway, stacks_signer):
    gw = await start_gateway(
        clock=Clock(now=NOON + 10), rate_limits={"per_minute": 3, "per_hour": 5, "per_day": 7}
    )
    api_key = (await create_api_key(gw, stacks_signer))["apiKey"]
    small = policy(("minute", 3, 60), ("hour", 5, 3600), ("day", 7, 86400))

    async def burst(count: int) -> list[Reply]:
        return [await keyed(gw, api_key) for _ in range(count)]

    minute = await burst(4)
    assert [r.status for r in minute] == [200, 200, 200, 429]
    assert [assert_truthful(r, gw.clock(), small).window for r in minute[:3]] == [60, 60, 60]
    assert_rate_limited(minute[3], "key", 3, 60, gw.clock())

    gw.clock.now = NOON + 70  # next minute, same hour: 2 of the hour's 5 left
    hour = await burst(3)
    assert [r.status for r in hour] == [200, 200, 429]
    binding = [assert_truthful(r, gw.clock(), small) for r in hour[:2]]
    assert [(b.window, b.remaining) for b in binding] == [(3600, 1), (3600, 0)]
    assert_rate_limited(hour[2], "key", 5, 3600, gw.clock())
    assert hour[2].headers["Retry-After"] == str(int(NOON + 3600 - gw.clock()))

    gw.clock.now = NOON + 3610  # next hour, same day: 2 of the day's 7 left
    day = await burst(3)
    assert [r.status for r in day] == [200, 200, 429]
    binding = [assert_truthful(r, gw.clock(), small) for r in day[:2]]
    assert [(b.window, b.remaining) for b in binding] == [(86400, 1), (86400, 0)]
    assert_rate_limited(day[2], "key", 7, 86400, gw.clock())
    assert day[2].headers["Retry-After"] == str(int(NOON + 12 * 3600 - gw.clock()))


async def test_every_kind_of_answer_carries_truthful_headers(
    start_gateway, faulty_upstream, stacks_signer
):
    gw = await start_gateway(
        clock=Clock(now=NOON + 20.5), upstream={"url": server_url(faulty_upstream)}
    )
    now = gw.clock()
    api_key = (await create_api_key(gw, stacks_signer))["apiKey"]
    create_only = (await create_api_key(gw, stacks_signer, permissions=("create",)))["apiKey"]
    order = await create_order(gw, stacks_signer)  # wallet-signed: the key's quota is untouched

    ok = await keyed(gw, api_key, "POST", f"{ORDERS}/{order['uuid']}/execute")
    missing = await keyed(gw, api_key, "POST", f"{ORDERS}/no-such-order/execute")
    unavailable = await keyed(gw, api_key, "GET", f"{RESET_PREFIX}x")
    streamed = await keyed(gw, api_key, "GET", f"{STREAM_PREFIX}x")
    keyed_replies = [ok, missing, unavailable, streamed]
    assert [r.status for r in keyed_replies] == [200, 404, 502, 200]
    assert missing.body["code"] == "ORDER_NOT_FOUND"
    assert unavailable.body["code"] == "UPSTREAM_UNAVAILABLE"
    assert streamed.headers.get("Transfer-Encoding") == "chunked"
    assert streamed.raw == b"".join(stream_chunk(i) for i in range(STREAM_CHUNKS))
    remaining = [assert_truthful(r, now, KEY_POLICY).remaining for r in keyed_replies]
    assert remaining == [99, 98, 97, 96]  # exactly one per admitted request

    forbidden = await keyed(gw, create_only, "POST", f"{ORDERS}/{order['uuid']}/execute")
    assert forbidden.status == 403
    assert forbidden.body["code"] == "PERMISSION_DENIED"
    assert assert_truthful(forbidden, now, KEY_POLICY).remaining == 99

    # No identity: these count against the client IP.
    unauthorised = await keyed(gw, api_key[:-1] + ("A" if api_key[-1] != "A" else "B"))
    unknown_route = await call(gw.client, "GET", gw.at("/no/such/route"))
    assert [unauthorised.status, unknown_route.status] == [401, 404]
    ip_remaining = [
        assert_truthful(r, now, IP_POLICY).remaining for r in (unauthorised, unknown_route)
    ]
    assert ip_remaining[1] == ip_remaining[0] - 1

    single = (await create_api_key(gw, stacks_signer, rateLimit=1))["apiKey"]
    one = policy(("minute", 1, 60), ("hour", 1000, 3600), ("day", 10000, 86400))
    assert (await keyed(gw, single)).status == 200
    refused = await keyed(gw, single)
    assert_rate_limited(refused, "key", 1, 60, now)
    assert_truthful(refused, now, one)
    assert refused.headers["Retry-After"] == "40"


async def test_failed_authentication_never_drains_the_victims_quota(
    start_gateway, stacks_signer, other_stacks_signer
):
    gw = await start_gateway(clock=Clock(now=NOON + 1))
    victim = await create_api_key(gw, stacks_signer, rateLimit=3)
    order = await create_order(gw, stacks_signer)
    execute = f"{ORDERS}/{order['uuid']}/execute"
    attempts = [
        {"X-API-Key": victim["keyId"]},
        {"X-API-Key": victim["apiKey"][:-1] + ("A" if victim["apiKey"][-1] != "A" else "B")},
        {"X-API-Key": victim["apiKey"][:-8]},
        signed_headers(
            other_stacks_signer, "execute_order", {"uuid": order["uuid"]}, now_ms=now_ms(gw)
        )
        | {"X-Wallet-Address": stacks_signer.address},
    ]
    for _ in range(5):
        for headers in attempts:
            reply = await call(gw.client, "POST", gw.at(execute), headers=headers)
            assert reply.status == 401, reply.body
            # A signed attempt is charged to the IP's signing ceiling before its
            # signature is checked; a bad key to the IP's public quota.
            signed = "X-Signature" in headers
            assert_truthful(reply, gw.clock(), IP_SIGNED_POLICY if signed else IP_POLICY)

    own = await keyed(gw, victim["apiKey"])
    assert own.status == 200
    assert rate_limit_headers(own.headers).remaining == 2  # 3 - 1: nothing was taken
    by_wallet = await signed_execute(gw, stacks_signer, order["uuid"])
    assert by_wallet.status == 200, by_wallet.body
    # The wallet's scope holds this execute only: an order authenticated by its
    # own signature is charged to the IP that sent it, never to its owner.
    assert assert_truthful(by_wallet, gw.clock(), KEY_POLICY).remaining == 99


async def test_key_management_does_not_consume_order_quota(start_gateway, stacks_signer):
    gw = await start_gateway(
        clock=Clock(now=NOON + 30),
        rate_limits={"management_per_minute": 5, "management_per_hour": 20},
    )
    api_key = (await create_api_key(gw, stacks_signer))["apiKey"]  # management 1 of 5

    offsets = itertools.count(1)

    async def list_keys() -> Reply:
        # A fresh timestamp each time: a signed message is accepted once.
        stamp = now_ms(gw) + next(offsets)
        headers = signed_headers(stacks_signer, "list_api_keys", {}, now_ms=stamp)
        return await call(gw.client, "GET", gw.at("/api/v1/api-keys"), headers=headers)

    orders = [await keyed(gw, api_key) for _ in range(3)]
    assert [rate_limit_headers(r.headers).remaining for r in orders] == [99, 98, 97]
    listed = [await list_keys() for _ in range(5)]
    assert [r.status for r in listed] == [200, 200, 200, 200, 429]
    management = [assert_truthful(r, gw.clock(), MANAGEMENT_POLICY) for r in listed]
    assert [m.remaining for m in management] == [3, 2, 1, 0, 0]
    assert_rate_limited(listed[4], "management", 5, 60, gw.clock())

    after = await keyed(gw, api_key)
    assert after.status == 200
    assert assert_truthful(after, gw.clock(), KEY_POLICY).remaining == 96
    order = await create_order(gw, stacks_signer)  # signed by the wallet: its order scope
    by_wallet = await signed_execute(gw, stacks_signer, order["uuid"])
    assert by_wallet.status == 200, by_wallet.body
    # The wallet's scope holds this execute only: an order authenticated by its
    # own signature is charged to the IP that sent it, never to its owner.
    assert assert_truthful(by_wallet, gw.clock(), KEY_POLICY).remaining == 99
