"""Gateways on a 3-master Redis Cluster losing one master, or with one frozen.

Keys held by the healthy masters keep their exact limits and quick answers;
keys held by the lost master follow `redis.on_error`: 503 when closed;
admitted and counted as limiter errors when open. One lost master used to
fail decisions for every key (40-98% of them), and a frozen one held every
request for seconds.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.crc import key_slot

from gateway.ratelimit.clients import check_cluster
from gateway.wallets.signing import StacksSigner
from tests.conftest import Clock, RunningGateway, create_api_key
from tests.support.rate_limit_support import NOON, Reply, call
from tests.support.services import REDIS_CLI, PrivateRedis, PrivateRedisCluster

ORDERS = "/api/v1/orders"
LIMIT = 20


@pytest.fixture
def test_prefix(redis_prefix: str) -> str:
    return f"{redis_prefix}-nodes-{secrets.token_hex(4)}"


def owner(cluster: PrivateRedisCluster, prefix: str, scope: str, identity: str) -> PrivateRedis:
    return cluster.owner_of(key_slot(f"{prefix}:{{{scope}:{identity}}}".encode()))


async def keys_on_every_node(
    gw: RunningGateway, cluster: PrivateRedisCluster, prefix: str
) -> dict[int, str]:
    """An API key (limit 20/min) whose counters each master holds, by port; each used once."""
    held: dict[int, str] = {}
    while len(held) < len(cluster.nodes):
        signer = StacksSigner(secrets.token_hex(32) + "01")
        created = await create_api_key(gw, signer, rateLimit=LIMIT)
        port = owner(cluster, prefix, "key", created["keyId"]).port
        if port not in held:
            held[port] = created["apiKey"]
            # First use: the key is cached from now on, so later requests
            # count against the key alone, never the client IP.
            assert (await keyed(gw, created["apiKey"])).status == 200
    return held


async def keyed(gw: RunningGateway, api_key: str) -> Reply:
    return await call(gw.client, "GET", gw.at(ORDERS), headers={"X-API-Key": api_key})


async def limiter_errors(gw: RunningGateway) -> float:
    reply = await call(gw.client, "GET", gw.admin_url + "/metrics")
    families = text_string_to_metric_families(reply.raw.decode())
    (value,) = [
        s.value
        for f in families
        for s in f.samples
        if s.name == "walletgate_rate_limiter_errors_total"
    ]
    return value


async def gateway(
    start_gateway, cluster: PrivateRedisCluster, prefix: str, on_error: str, query: str = ""
) -> Any:
    return await start_gateway(
        clock=Clock(now=NOON + 10),
        redis={"url": cluster.url + query, "prefix": prefix, "on_error": on_error},
        rate_limits={"ip_key_creation_per_minute": 100, "ip_key_creation_per_hour": 1000},
    )


def split(
    cluster: PrivateRedisCluster, prefix: str, held: dict[int, str]
) -> tuple[PrivateRedis, str, list[str]]:
    """A master to lose (not the one counting the client IP), its key, the others' keys."""
    ip_port = owner(cluster, prefix, "ip", "127.0.0.1").port
    lost_port = next(port for port in held if port != ip_port)
    lost = next(node for node in cluster.nodes if node.port == lost_port)
    return lost, held[lost_port], [key for port, key in held.items() if port != lost_port]


async def burst(gw: RunningGateway, keys: list[str]) -> dict[str, list[Reply]]:
    """LIMIT + 2 requests per key, all at once, so decisions share the limiter's batches."""
    sent = [(key, keyed(gw, key)) for _ in range(LIMIT + 2) for key in keys]
    replies = await asyncio.gather(*(reply for _, reply in sent))
    by_key: dict[str, list[Reply]] = {}
    for (key, _), reply in zip(sent, replies, strict=True):
        by_key.setdefault(key, []).append(reply)
    return by_key


@pytest.mark.parametrize("on_error", ["closed", "open"])
async def test_a_lost_master_affects_only_the_keys_it_holds(
    start_gateway, redis_cluster, test_prefix, on_error
):
    gw = await gateway(start_gateway, redis_cluster, test_prefix, on_error)
    held = await keys_on_every_node(gw, redis_cluster, test_prefix)
    lost, doomed, healthy = split(redis_cluster, test_prefix, held)
    lost.stop()
    try:
        # At once, then once the cluster has marked the master failed (a new
        # minute: every key starts afresh, bar the request made before).
        for used_before in (1, 0):
            before = await limiter_errors(gw)
            by_key = await burst(gw, [*healthy, doomed])
            for key in healthy:
                statuses = sorted(reply.status for reply in by_key[key])
                admitted = LIMIT - used_before
                assert statuses == [200] * admitted + [429] * (LIMIT + 2 - admitted), statuses
            answers = [(r.status, (r.body or {}).get("code")) for r in by_key[doomed]]
            if on_error == "closed":
                assert answers == [(503, "SERVICE_UNAVAILABLE")] * (LIMIT + 2)
            else:
                # Past its limit: nothing could be counted, each decision an error.
                assert answers == [(200, None)] * (LIMIT + 2)
                assert await limiter_errors(gw) - before == LIMIT + 2
            if used_before:
                redis_cluster.wait_until_failed(lost)
                gw.clock.advance(60)
    finally:
        redis_cluster.start_node(lost)
        redis_cluster.wait_until_ok()


async def test_a_frozen_master_delays_only_the_keys_it_holds(
    start_gateway, redis_cluster, test_prefix
):
    # A node timeout far beyond the test: the frozen master's request cannot
    # end before the master is thawed, so the order below is no race.
    gw = await gateway(start_gateway, redis_cluster, test_prefix, "closed", "?socket_timeout=30")
    held = await keys_on_every_node(gw, redis_cluster, test_prefix)
    frozen, stuck_key, healthy = split(redis_cluster, test_prefix, held)
    frozen.pause()
    try:
        stuck = asyncio.ensure_future(keyed(gw, stuck_key))
        await asyncio.sleep(0.05)  # its decision is on the wire to the frozen master
        answers = [await keyed(gw, key) for key in healthy for _ in range(3)]
        # Every healthy key answered, and counted exactly, while the frozen
        # master's request still waits.
        remaining = [(r.status, r.headers["X-RateLimit-Remaining"]) for r in answers]
        expected = [(200, str(LIMIT - n)) for n in (2, 3, 4)]
        assert remaining == expected * len(healthy)
        assert not stuck.done()
    finally:
        frozen.resume()
    # Thawed, the master answers the decision that waited.
    assert (await stuck).status == 200


def set_full_coverage(cluster: PrivateRedisCluster, value: str) -> None:
    for node in cluster.nodes:
        subprocess.run(
            [
                REDIS_CLI,
                "-p",
                str(node.port),
                "config",
                "set",
                "cluster-require-full-coverage",
                value,
            ],
            check=True,
            capture_output=True,
            timeout=10,
        )


async def test_start_up_warns_when_the_cluster_requires_full_coverage(redis_cluster):
    """With Redis's default, one lost master stops every master: walletgate says so."""
    assert await check_cluster(redis_cluster.url) == []
    set_full_coverage(redis_cluster, "yes")
    try:
        (warning,) = await check_cluster(redis_cluster.url)
    finally:
        set_full_coverage(redis_cluster, "no")
    assert "cluster-require-full-coverage" in warning and "redis.url" in warning
