"""Scale-out: several gateways sharing Redis and one key store.

Rate-limit windows and the replay set live in Redis, so two instances admit
exactly what one would; key revocation reaches every instance sharing a
PostgreSQL store; a dead Redis follows `redis.on_error`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.crc import key_slot

from gateway.wallets.signing import signed_headers
from tests.conftest import Clock, RunningGateway, create_api_key, create_order, now_ms
from tests.support.rate_limit_support import (
    KEY_POLICY,
    NOON,
    Reply,
    assert_truthful,
    call,
    closed_port,
    rate_limit_headers,
)

ORDERS = "/api/v1/orders"
# The configured poll interval is 0.2 s (tests.conftest); this bound only
# stops a broken build from hanging the run.
PROPAGATION_BOUND_S = 3.0


@pytest.fixture
def test_prefix(redis_prefix: str) -> str:
    """A key prefix of this test alone (inside the run's prefix, cleaned with it)."""
    return f"{redis_prefix}-{secrets.token_hex(4)}"


async def pair(start_gateway, clock_at: float, **sections: Any) -> tuple[RunningGateway, ...]:
    """Two gateways on one store and one upstream, each with the same settings."""
    first = await start_gateway(clock=Clock(now=clock_at), **sections)
    second = await start_gateway(
        clock=Clock(now=clock_at), upstream={"url": first.backend_url}, **sections
    )
    return first, second


async def keyed(gw: RunningGateway, api_key: str, method: str = "GET", path: str = ORDERS) -> Reply:
    return await call(gw.client, method, gw.at(path), headers={"X-API-Key": api_key})


async def metric(gw: RunningGateway, name: str) -> float:
    reply = await call(gw.client, "GET", gw.admin_url + "/metrics")
    families = text_string_to_metric_families(reply.raw.decode())
    (value,) = [s.value for f in families for s in f.samples if s.name == name]
    return value


async def test_two_gateways_sharing_redis_admit_exactly_the_limit(
    start_gateway, redis_url, test_prefix, stacks_signer
):
    gateways = await pair(start_gateway, NOON + 3, redis={"url": redis_url, "prefix": test_prefix})
    api_key = (await create_api_key(gateways[0], stacks_signer))["apiKey"]

    # One request through each instance first: the second counts on from the first.
    primed = [await keyed(gateway, api_key) for gateway in gateways]
    assert [rate_limit_headers(r.headers).remaining for r in primed] == [99, 98]

    # Then a race; each instance may send its share to Redis in one batch.
    replies = await asyncio.gather(*(keyed(gateways[i % 2], api_key) for i in range(298)))

    assert Counter(r.status for r in replies) == {200: 98, 429: 200}
    admitted = [rate_limit_headers(r.headers).remaining for r in replies if r.status == 200]
    assert sorted(admitted) == list(range(98))
    for reply in replies:
        assert_truthful(reply, NOON + 3, KEY_POLICY)
        if reply.status == 429:
            assert reply.body["details"]["scope"] == "key"


async def test_signed_message_accepted_by_one_gateway_is_refused_by_the_other(
    start_gateway, redis_url, test_prefix, stacks_signer
):
    first, second = await pair(
        start_gateway, NOON + 4, redis={"url": redis_url, "prefix": test_prefix}
    )
    order = await create_order(first, stacks_signer)
    uuid = order["uuid"]
    headers = signed_headers(stacks_signer, "execute_order", {"uuid": uuid}, now_ms=now_ms(first))
    execute = f"{ORDERS}/{uuid}/execute"

    accepted = await call(first.client, "POST", first.at(execute), headers=headers)
    replayed = await call(second.client, "POST", second.at(execute), headers=headers)

    assert accepted.status == 200, accepted.body
    assert replayed.status == 401
    assert replayed.body["code"] == "SIGNATURE_REPLAYED"
    executes = [r for r in first.backend_requests if r["path"] == execute]
    assert len(executes) == 1


async def test_unreachable_redis_closed_refuses_and_open_admits_and_counts(
    start_gateway, stacks_signer
):
    healthy = await start_gateway(clock=Clock(now=NOON + 6))  # same store, in-process limits
    api_key = (await create_api_key(healthy, stacks_signer))["apiKey"]
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    closed = await start_gateway(
        clock=Clock(now=NOON + 6), redis={"url": dead, "on_error": "closed"}
    )
    opened = await start_gateway(clock=Clock(now=NOON + 6), redis={"url": dead, "on_error": "open"})

    refused = await keyed(closed, api_key)
    assert refused.status == 503
    assert refused.body["code"] == "SERVICE_UNAVAILABLE"
    ready = await call(closed.client, "GET", closed.admin_url + "/readyz")
    assert ready.status == 503
    assert ready.body["details"]["checks"]["rateLimiter"] == "unavailable"

    admitted = [await keyed(opened, api_key) for _ in range(3)]
    assert [r.status for r in admitted] == [200, 200, 200]
    for reply in admitted:
        # Failing open admits with the full quota shown: nothing could be counted.
        assert assert_truthful(reply, NOON + 6, KEY_POLICY).remaining == 100
    # Three key decisions, plus the client IP's on the first use, when the key
    # was not cached yet and would cost a store query.
    assert await metric(opened, "walletgate_rate_limiter_errors_total") == 4


async def test_postgres_store_round_trip_and_revocation_reaches_the_other_gateway(
    start_gateway, postgres_database, stacks_signer
):
    first, second = await pair(start_gateway, NOON + 9, store={"url": postgres_database})
    created = await create_api_key(first, stacks_signer)
    api_key = created["apiKey"]
    order = await create_order(first, stacks_signer, api_key=api_key)
    executed = await keyed(first, api_key, "POST", f"{ORDERS}/{order['uuid']}/execute")
    assert executed.status == 200, executed.body
    other = await create_order(first, stacks_signer, api_key=api_key)
    across = await keyed(second, api_key, "POST", f"{ORDERS}/{other['uuid']}/execute")
    assert across.status == 200, across.body  # the key came from the shared store

    revoke = signed_headers(
        stacks_signer, "delete_api_key", {"keyId": created["keyId"]}, now_ms=now_ms(first)
    )
    path = f"/api/v1/api-keys/{created['keyId']}"
    revoked = await call(first.client, "DELETE", first.at(path), headers=revoke)
    assert revoked.status == 200, revoked.body
    at_once = await keyed(first, api_key)
    assert at_once.status == 401
    assert at_once.body["code"] == "API_KEY_INACTIVE"

    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROPAGATION_BOUND_S
    elsewhere = await keyed(second, api_key)
    while elsewhere.status == 200 and loop.time() < deadline:
        await asyncio.sleep(0.05)
        elsewhere = await keyed(second, api_key)
    assert elsewhere.status == 401
    assert elsewhere.body["code"] == "API_KEY_INACTIVE"


async def test_two_gateways_on_a_redis_cluster_admit_exactly_the_limit(
    start_gateway, redis_cluster, test_prefix, stacks_signer
):
    gateways = await pair(
        start_gateway, NOON + 3, redis={"url": redis_cluster.url, "prefix": test_prefix}
    )
    api_key = (await create_api_key(gateways[0], stacks_signer))["apiKey"]
    replies = await asyncio.gather(*(keyed(gateways[i % 2], api_key) for i in range(300)))
    assert Counter(r.status for r in replies) == {200: 100, 429: 200}
    admitted = [rate_limit_headers(r.headers).remaining for r in replies if r.status == 200]
    assert sorted(admitted) == list(range(100))


async def test_cluster_node_down_follows_on_error_then_recovers(
    start_gateway, redis_cluster, test_prefix, stacks_signer
):
    sections = {"url": redis_cluster.url, "prefix": test_prefix}
    closed = await start_gateway(
        clock=Clock(now=NOON + 7), redis={**sections, "on_error": "closed"}
    )
    opened = await start_gateway(
        clock=Clock(now=NOON + 7),
        upstream={"url": closed.backend_url},
        redis={**sections, "on_error": "open"},
    )
    created = await create_api_key(closed, stacks_signer)
    api_key = created["apiKey"]
    assert (await keyed(closed, api_key)).status == 200
    node = redis_cluster.owner_of(key_slot(f"{test_prefix}:{{key:{created['keyId']}}}".encode()))
    node.stop()
    try:
        refused = await keyed(closed, api_key)
        assert refused.status == 503
        assert refused.body["code"] == "SERVICE_UNAVAILABLE"
        ready = await call(closed.client, "GET", closed.admin_url + "/readyz")
        assert ready.body["details"]["checks"]["rateLimiter"] == "unavailable"
        admitted = await keyed(opened, api_key)
        assert admitted.status == 200
        assert await metric(opened, "walletgate_rate_limiter_errors_total") >= 1
    finally:
        redis_cluster.start_node(node)
        redis_cluster.wait_until_ok()
    for _ in range(100):  # bounded: the client reloads the slot map by itself
        reply = await keyed(closed, api_key)
        if reply.status == 200:
            break
        await asyncio.sleep(0.1)
    assert reply.status == 200
