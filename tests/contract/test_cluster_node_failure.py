"""A failed or frozen Redis Cluster master affects only the keys it holds.

Hits were sent as one cluster pipeline per batch: one dead master failed the
whole batch, so keys on the healthy masters were refused (or, failing open,
admitted uncounted) too, and one frozen master held every batch for its
timeouts. Each hit now goes to the limiter of the node owning its slot.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections import defaultdict

import pytest
from redis.crc import key_slot

from gateway.ratelimit import Limiter, LimiterError, Quota, Window, open_limiter
from tests.support.services import REDIS_CLI, PrivateRedis, PrivateRedisCluster

FIVE = Window("minute", 60, 5)
NOON = 1_893_499_200.0  # 2030-01-01 12:00:00 UTC, a minute boundary


def identities_by_node(cluster: PrivateRedisCluster, prefix: str) -> dict[int, list[str]]:
    """Two identities held by each master (by port), for scope `key`."""
    held: dict[int, list[str]] = defaultdict(list)
    n = 0
    while len(held) < len(cluster.nodes) or min(len(ids) for ids in held.values()) < 2:
        identity = f"id-{n}"
        n += 1
        node = cluster.owner_of(key_slot(f"{prefix}:{{key:{identity}}}".encode()))
        if len(held[node.port]) < 2:
            held[node.port].append(identity)
    return held


def node_at(cluster: PrivateRedisCluster, port: int) -> PrivateRedis:
    return next(node for node in cluster.nodes if node.port == port)


async def burst(limiter: Limiter, identities: list[str], now: float) -> dict[str, list[object]]:
    """Eight hits per identity, interleaved and concurrent (so they share batches)."""
    calls = [
        (identity, limiter.hit("key", identity, [FIVE], now))
        for _ in range(8)
        for identity in identities
    ]
    results = await asyncio.gather(*(call for _, call in calls), return_exceptions=True)
    outcome: dict[str, list[object]] = defaultdict(list)
    for (identity, _), result in zip(calls, results, strict=True):
        outcome[identity].append(result)
    return outcome


def allowed(results: list[object]) -> list[bool]:
    assert all(isinstance(r, Quota) for r in results), results
    return [r.allowed for r in results if isinstance(r, Quota)]


@pytest.fixture
def prefix() -> str:
    return f"wgtest-nodes-{secrets.token_hex(4)}"


async def test_a_lost_master_fails_only_the_hits_whose_keys_it_holds(
    redis_cluster: PrivateRedisCluster, prefix: str
) -> None:
    held = identities_by_node(redis_cluster, prefix)
    lost_port, *healthy_ports = held
    lost = node_at(redis_cluster, lost_port)
    healthy = [held[port][0] for port in healthy_ports]
    doomed = held[lost_port][0]
    limiter = open_limiter(redis_cluster.url, prefix=prefix)
    try:
        # Every node has served this limiter once: its connections are warm.
        for identity in [*healthy, doomed]:
            assert (await limiter.hit("key", identity, [FIVE], NOON)).allowed
        lost.stop()
        try:
            # At once, then once the cluster has marked the master failed; a
            # new minute each time, so each round starts from five.
            for round_, now in enumerate((NOON + 60, NOON + 120)):
                outcome = await burst(limiter, [*healthy, doomed], now)
                for identity in healthy:
                    assert (
                        sorted(allowed(outcome[identity]), reverse=True) == [True] * 5 + [False] * 3
                    )
                assert all(isinstance(r, LimiterError) for r in outcome[doomed]), outcome[doomed]
                if round_ == 0:
                    redis_cluster.wait_until_failed(lost)
        finally:
            redis_cluster.start_node(lost)
            redis_cluster.wait_until_ok()
    finally:
        await limiter.close()


async def test_a_frozen_master_delays_only_the_hits_whose_keys_it_holds(
    redis_cluster: PrivateRedisCluster, prefix: str
) -> None:
    held = identities_by_node(redis_cluster, prefix)
    frozen_port, healthy_port, _ = held
    frozen = node_at(redis_cluster, frozen_port)
    stuck_identity, healthy_identity = held[frozen_port][1], held[healthy_port][1]
    # A node timeout far beyond the test: the frozen node's hit cannot end
    # before the node is thawed, so the order below is no race.
    limiter = open_limiter(f"{redis_cluster.url}?socket_timeout=30", prefix=prefix)
    try:
        for identity in (stuck_identity, healthy_identity):
            assert (await limiter.hit("key", identity, [FIVE], NOON)).allowed
        frozen.pause()
        try:
            stuck = asyncio.ensure_future(limiter.hit("key", stuck_identity, [FIVE], NOON + 60))
            await asyncio.sleep(0)  # its batch is on the wire to the frozen node
            answers = [
                await limiter.hit("key", healthy_identity, [FIVE], NOON + 60) for _ in range(8)
            ]
            assert [a.allowed for a in answers] == [True] * 5 + [False] * 3
            # Eight round trips to a healthy node answered while the frozen
            # node's one hit still waits.
            assert not stuck.done()
        finally:
            frozen.resume()
        # Thawed, the node answers the hit that waited.
        assert (await stuck).allowed
    finally:
        await limiter.close()


def cli(node: PrivateRedis, *args: str) -> str:
    answer = subprocess.run(
        [REDIS_CLI, "-p", str(node.port), *args], capture_output=True, text=True, timeout=10
    )
    assert answer.returncode == 0, answer.stderr
    return answer.stdout.strip()


def cluster_owner_port(cluster: PrivateRedisCluster, slot: int) -> int:
    return cluster.owner_of(slot).port


def assign(cluster: PrivateRedisCluster, slot: int, owner: PrivateRedis) -> None:
    """Give an empty `slot` to `owner` on every node (no keys to migrate)."""
    owner_id = cli(owner, "cluster", "myid")
    for node in [owner, *(n for n in cluster.nodes if n is not owner)]:
        assert cli(node, "cluster", "setslot", str(slot), "node", owner_id) == "OK"


async def test_a_moved_slot_is_followed_to_its_new_owner(
    redis_cluster: PrivateRedisCluster, prefix: str
) -> None:
    held = identities_by_node(redis_cluster, prefix)
    (first_port, (seen, _)), (second_port, _), _ = held.items()
    first, second = node_at(redis_cluster, first_port), node_at(redis_cluster, second_port)
    # A slot of `first` that holds no key (other tests' keys share the
    # cluster): only an empty slot can be handed over without migrating.
    moving, slot = next(
        (identity, slot)
        for identity, slot in (
            (f"move-{n}", key_slot(f"{prefix}:{{key:move-{n}}}".encode())) for n in range(10_000)
        )
        if cluster_owner_port(redis_cluster, slot) == first_port
        and cli(first, "cluster", "countkeysinslot", str(slot)) == "0"
    )
    limiter = open_limiter(redis_cluster.url, prefix=prefix)
    try:
        assert (await limiter.hit("key", seen, [FIVE], NOON)).allowed  # the map is read
        assign(redis_cluster, slot, second)
        # The limiter still believes `first` owns the slot: MOVED, a new map,
        # and the one hit sent again, counted once.
        quotas = [await limiter.hit("key", moving, [FIVE], NOON) for _ in range(6)]
        assert [q.allowed for q in quotas] == [True] * 5 + [False]
        assert quotas[4].binding.remaining == 0
        assert cli(second, "cluster", "countkeysinslot", str(slot)) == "1"
    finally:
        await limiter.close()
        for key in cli(second, "cluster", "getkeysinslot", str(slot), "10").split():
            cli(second, "del", key)
        assign(redis_cluster, slot, first)
        redis_cluster.wait_until_ok()
