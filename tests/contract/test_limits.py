"""One behaviour suite for every rate-limit backend (memory and Redis)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from gateway.ratelimit import (
    Limiter,
    LimiterError,
    MemoryLimiter,
    Quota,
    Window,
    open_limiter,
    policy_header,
)
from gateway.ratelimit.cluster import RedisClusterLimiter
from gateway.ratelimit.redis import RedisLimiter
from tests.support.services import PrivateRedis, PrivateRedisCluster, free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
MINUTE = Window("minute", 60, 100)
HOUR = Window("hour", 3600, 1000)
DAY = Window("day", 86400, 10000)
# 2030-01-01 12:00:00 UTC: a minute, hour and day boundary.
NOON = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()

LimiterFactory = Callable[[], Awaitable[Limiter]]


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    value = f"wgtest-limits-{secrets.token_hex(6)}"
    yield value
    cleaner = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in cleaner.scan_iter(match=f"{value}:*", count=1000)]
        if keys:
            await cleaner.delete(*keys)
    finally:
        await cleaner.aclose()


@pytest.fixture(params=["memory", "redis", "cluster"])
async def make_limiter(
    request: pytest.FixtureRequest, prefix: str
) -> AsyncIterator[LimiterFactory]:
    """Opens limiters of the backend under test, closed after the test."""
    opened: list[Limiter] = []
    url = {"memory": "memory://", "redis": REDIS_URL}.get(request.param)
    if url is None:
        url = request.getfixturevalue("redis_cluster").url

    async def make() -> Limiter:
        limiter = open_limiter(url, prefix=prefix)
        opened.append(limiter)
        return limiter

    yield make
    for limiter in opened:
        await limiter.close()


@pytest.fixture
async def limiter(make_limiter: LimiterFactory) -> Limiter:
    return await make_limiter()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test alone, to flush or stop without touching the shared one."""
    server = PrivateRedis(free_port())
    server.start()
    yield server
    server.stop()


async def test_concurrent_hits_admit_exactly_the_limit(limiter: Limiter) -> None:
    quotas = await asyncio.gather(
        *(limiter.hit("key", "k1", [MINUTE], NOON + 5) for _ in range(300))
    )
    assert sum(q.allowed for q in quotas) == 100
    assert sum(not q.allowed for q in quotas) == 200
    assert sorted(q.binding.remaining for q in quotas if q.allowed) == list(range(100))


async def test_two_redis_instances_racing_admit_exactly_the_limit(prefix: str) -> None:
    # Two limiters, two connection pools: as two gateway processes sharing Redis.
    first = open_limiter(REDIS_URL, prefix=prefix)
    second = open_limiter(REDIS_URL, prefix=prefix)
    try:
        calls = [
            (first if n % 2 else second).hit("key", "shared", [MINUTE, HOUR], NOON + 5)
            for n in range(300)
        ]
        quotas = await asyncio.gather(*calls)
    finally:
        await first.close()
        await second.close()
    assert sum(q.allowed for q in quotas) == 100
    assert sorted(q.states[1].remaining for q in quotas if q.allowed) == list(range(900, 1000))


async def test_concurrent_hits_share_one_redis_connection(prefix: str) -> None:
    # An unbounded pool: one connection per hit in flight if hits were sent one by one.
    name = f"wgtest-{secrets.token_hex(4)}"
    limiter = RedisLimiter(Redis.from_url(REDIS_URL, client_name=name), prefix=prefix)
    observer = Redis.from_url(REDIS_URL)
    try:
        quotas = await asyncio.gather(
            *(limiter.hit("key", "k1", [MINUTE, HOUR], NOON + 5) for _ in range(300))
        )
        connections = [c for c in await observer.client_list() if c["name"] == name]
    finally:
        await limiter.close()
        await observer.aclose()
    assert sum(q.allowed for q in quotas) == 100
    assert len(connections) == 1


async def test_cancelled_hits_leave_the_others_answered_and_count_at_most_once(
    limiter: Limiter,
) -> None:
    hits = [asyncio.create_task(limiter.hit("key", "k1", [MINUTE], NOON)) for _ in range(10)]
    await asyncio.sleep(0)  # every hit started: queued, or already answered in memory
    hits[2].cancel()
    await asyncio.sleep(0)  # a batch may be on its way now
    hits[5].cancel()
    results = await asyncio.gather(*hits, return_exceptions=True)
    answered = [r for r in results if isinstance(r, Quota)]
    cancelled = [r for r in results if isinstance(r, asyncio.CancelledError)]
    assert len(answered) + len(cancelled) == 10
    assert all(q.allowed for q in answered)
    assert len({q.binding.remaining for q in answered}) == len(answered)
    after = await limiter.hit("key", "k1", [MINUTE], NOON)
    counted = 100 - after.binding.remaining
    # Every answered hit counted once; a cancelled one once at most (if it was already sent).
    assert len(answered) + 1 <= counted <= 11


async def test_closing_refuses_queued_and_later_hits(prefix: str) -> None:
    limiter = open_limiter(REDIS_URL, prefix=prefix)
    hits = [asyncio.create_task(limiter.hit("key", "k1", [MINUTE], NOON)) for _ in range(10)]
    await asyncio.sleep(0)  # queued, not yet sent
    await limiter.close()
    results = await asyncio.gather(*hits, return_exceptions=True)
    assert all(isinstance(r, Quota | LimiterError) for r in results)
    with pytest.raises(LimiterError):
        await limiter.hit("key", "k1", [MINUTE], NOON)


async def test_flushed_script_is_loaded_again_and_counts_stay_exact(
    private_redis: PrivateRedis,
) -> None:
    limiter = open_limiter(private_redis.url, prefix="flush")
    admin = Redis.from_url(private_redis.url)
    try:
        for _ in range(5):
            assert (await limiter.hit("key", "k1", [MINUTE], NOON)).allowed
        await admin.script_flush()
        quotas = await asyncio.gather(
            *(limiter.hit("key", "k1", [MINUTE], NOON) for _ in range(300))
        )
    finally:
        await limiter.close()
        await admin.aclose()
    assert sum(q.allowed for q in quotas) == 95
    assert sorted(q.binding.remaining for q in quotas if q.allowed) == list(range(95))


async def test_redis_down_fails_every_waiting_hit_then_recovers_by_itself(
    private_redis: PrivateRedis,
) -> None:
    limiter = open_limiter(private_redis.url, prefix="down")
    try:
        assert (await limiter.hit("key", "k1", [MINUTE], NOON)).allowed
        private_redis.stop()
        results = await asyncio.gather(
            *(limiter.hit("key", "k1", [MINUTE], NOON) for _ in range(50)),
            return_exceptions=True,
        )
        assert all(isinstance(r, LimiterError) for r in results)
        private_redis.start()
        for _ in range(100):  # bounded: the next batch reconnects on its own
            try:
                quota = await limiter.hit("key", "k2", [MINUTE], NOON)
                break
            except LimiterError:
                await asyncio.sleep(0.05)
        assert quota.allowed
        # The restarted server kept nothing: counting starts afresh, exactly.
        quotas = await asyncio.gather(
            *(limiter.hit("key", "k1", [MINUTE], NOON) for _ in range(150))
        )
        assert sum(q.allowed for q in quotas) == 100
    finally:
        await limiter.close()


async def test_two_cluster_clients_racing_admit_exactly_the_limit(
    redis_cluster: PrivateRedisCluster, prefix: str
) -> None:
    first = open_limiter(redis_cluster.url, prefix=prefix)
    second = open_limiter(redis_cluster.url, prefix=prefix)
    try:
        calls = [
            (first if n % 2 else second).hit("key", "shared", [MINUTE, HOUR], NOON + 5)
            for n in range(300)
        ]
        quotas = await asyncio.gather(*calls)
    finally:
        await first.close()
        await second.close()
    assert isinstance(first, RedisClusterLimiter)
    assert sum(q.allowed for q in quotas) == 100
    assert sorted(q.states[1].remaining for q in quotas if q.allowed) == list(range(900, 1000))


async def test_cluster_keys_of_one_identity_share_a_slot_and_spread_over_nodes(
    redis_cluster: PrivateRedisCluster, prefix: str
) -> None:
    limiter = open_limiter(redis_cluster.url, prefix=prefix)
    admin = RedisCluster.from_url(redis_cluster.url.replace("redis+cluster", "redis"))
    try:
        for n in range(30):
            await limiter.hit("key", f"k{n}", [MINUTE, HOUR, DAY], NOON)
        keys = [key async for key in admin.scan_iter(match=f"{prefix}:*", count=1000)]
    finally:
        await limiter.close()
        await admin.aclose()
    slots: dict[bytes, set[int]] = {}
    for key in keys:
        slots.setdefault(key.split(b"}")[0], set()).add(key_slot(key))
    assert len(keys) == 90
    assert all(len(identity_slots) == 1 for identity_slots in slots.values())
    owners = {redis_cluster.owner_of(slot) for (slot,) in slots.values()}
    assert len(owners) == 3


async def test_cluster_node_down_refuses_its_keys_then_recovers(
    redis_cluster: PrivateRedisCluster, prefix: str
) -> None:
    limiter = open_limiter(redis_cluster.url, prefix=prefix)
    identity = "down-1"
    slot = key_slot(f"{prefix}:{{key:{identity}}}:60:0".encode())
    node = redis_cluster.owner_of(slot)
    try:
        assert (await limiter.hit("key", identity, [MINUTE], NOON)).allowed
        node.stop()
        results = await asyncio.gather(
            *(limiter.hit("key", identity, [MINUTE], NOON) for _ in range(20)),
            return_exceptions=True,
        )
        assert all(isinstance(r, LimiterError) for r in results), results
        with pytest.raises(LimiterError):
            await limiter.ping()
        redis_cluster.start_node(node)
        redis_cluster.wait_until_ok()
        for _ in range(100):  # bounded: the client reloads the slot map by itself
            try:
                quota = await limiter.hit("key", identity, [MINUTE], NOON)
                break
            except LimiterError:
                await asyncio.sleep(0.1)
        # The restarted node kept nothing (no persistence): counting starts afresh.
        assert quota.allowed
        assert quota.binding.remaining == 99
        await limiter.ping()
    finally:
        await limiter.close()


async def test_identities_beyond_ascii_are_counted_apart(limiter: Limiter) -> None:
    one = [Window("minute", 60, 1)]
    for identity in ("wallet", "wället", "钱包", "wallet\u00a0"):
        assert (await limiter.hit("wallet", identity, one, NOON)).allowed
    assert not (await limiter.hit("wallet", "钱包", one, NOON)).allowed


async def test_windows_are_aligned_to_the_epoch(limiter: Limiter) -> None:
    one = Window("minute", 60, 1)
    before = await limiter.hit("key", "k1", [one], NOON + 59.999)
    after = await limiter.hit("key", "k1", [one], NOON + 60.0)
    assert before.allowed and after.allowed
    assert before.binding.reset == NOON + 60
    assert after.binding.reset == NOON + 120
    refused = await limiter.hit("key", "k1", [one], NOON + 60.5)
    assert not refused.allowed


async def test_longer_window_binds_when_the_minute_has_room(limiter: Limiter) -> None:
    windows = [MINUTE, Window("hour", 3600, 5), DAY]
    for _ in range(5):
        assert (await limiter.hit("key", "k1", windows, NOON + 1)).allowed
    refused = await limiter.hit("key", "k1", windows, NOON + 2)
    assert not refused.allowed
    assert refused.binding.window.name == "hour"
    headers = refused.headers(NOON + 2)
    assert headers["X-RateLimit-Limit"] == "5"
    assert headers["X-RateLimit-Window"] == "3600"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset"] == str(int(NOON) + 3600)
    assert headers["RateLimit"] == '"hour";r=0;t=3598'
    assert headers["Retry-After"] == "3598"
    assert refused.details() == {
        "scope": "key",
        "limit": 5,
        "window": 3600,
        "reset": int(NOON) + 3600,
    }


async def test_day_window_binds(limiter: Limiter) -> None:
    windows = [MINUTE, HOUR, Window("day", 86400, 2)]
    await limiter.hit("wallet", "w1", windows, NOON)
    allowed = await limiter.hit("wallet", "w1", windows, NOON + 61)
    assert allowed.allowed and allowed.binding.window.name == "day"
    refused = await limiter.hit("wallet", "w1", windows, NOON + 3601)
    assert not refused.allowed and refused.binding.window.name == "day"
    assert refused.headers(NOON + 3601)["X-RateLimit-Window"] == "86400"


async def test_refused_request_consumes_nothing(limiter: Limiter) -> None:
    tight_hour = Window("hour", 3600, 3)
    for _ in range(3):
        await limiter.hit("key", "k1", [MINUTE, tight_hour], NOON + 1)
    for _ in range(10):
        assert not (await limiter.hit("key", "k1", [MINUTE, tight_hour], NOON + 2)).allowed
    # The minute counter saw only the three admitted requests.
    minute_only = await limiter.hit("key", "k1", [MINUTE], NOON + 3)
    assert minute_only.allowed and minute_only.binding.remaining == 100 - 4


async def test_remaining_reset_and_headers_of_admitted_requests(limiter: Limiter) -> None:
    windows = [MINUTE, HOUR, DAY]
    now = NOON + 20.2
    for expected in range(99, 94, -1):
        quota = await limiter.hit("key", "k1", windows, now)
        assert quota.allowed
        assert quota.binding.window is MINUTE
        assert quota.binding.remaining == expected
        assert [s.remaining for s in quota.states] == [expected, 900 + expected, 9900 + expected]
        assert [s.reset for s in quota.states] == [NOON + 60, NOON + 3600, NOON + 86400 - 12 * 3600]
    headers = quota.headers(now)
    assert headers == {
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "95",
        "X-RateLimit-Reset": str(int(NOON) + 60),
        "X-RateLimit-Window": "60",
        "RateLimit-Policy": '"minute";q=100;w=60, "hour";q=1000;w=3600, "day";q=10000;w=86400',
        "RateLimit": '"minute";r=95;t=40',
    }


async def test_refusal_carries_retry_after_until_the_window_resets(limiter: Limiter) -> None:
    two = Window("minute", 60, 2)
    for _ in range(2):
        await limiter.hit("ip", "10.0.0.1", [two], NOON + 10)
    refused = await limiter.hit("ip", "10.0.0.1", [two], NOON + 59.5)
    headers = refused.headers(NOON + 59.5)
    assert headers["Retry-After"] == "1"
    assert headers["RateLimit"] == '"minute";r=0;t=1'
    assert refused.details()["scope"] == "ip"


async def test_binding_tie_goes_to_the_shortest_window(limiter: Limiter) -> None:
    windows = [Window("day", 86400, 10), Window("hour", 3600, 10), Window("minute", 60, 10)]
    quota = await limiter.hit("key", "k1", windows, NOON)
    assert quota.binding.window.name == "minute"
    assert [s.window.name for s in quota.states] == ["day", "hour", "minute"]
    for _ in range(9):
        quota = await limiter.hit("key", "k1", windows, NOON)
    refused = await limiter.hit("key", "k1", windows, NOON)
    assert not refused.allowed and refused.binding.window.name == "minute"
    # Retry-After waits for the longest full window, so a retry then can succeed.
    assert refused.headers(NOON)["Retry-After"] == str(12 * 3600)


async def test_scopes_and_identities_are_counted_apart(limiter: Limiter) -> None:
    one = [Window("minute", 60, 1)]
    assert (await limiter.hit("key", "a", one, NOON)).allowed
    assert (await limiter.hit("key", "b", one, NOON)).allowed
    assert (await limiter.hit("wallet", "a", one, NOON)).allowed
    assert not (await limiter.hit("key", "a", one, NOON)).allowed


async def test_ping_succeeds_when_reachable(limiter: Limiter) -> None:
    await limiter.ping()


async def test_memory_limiter_evicts_past_windows() -> None:
    limiter = MemoryLimiter()
    windows = [MINUTE]
    for n in range(100_000):
        limiter.decide("key", f"id{n}", windows, NOON + 1)
    assert limiter.live_counters() == 100_000
    await limiter.hit("key", "late", windows, NOON + 61)
    assert limiter.live_counters() == 1


async def test_memory_limiter_counts_a_stale_clock_in_the_newest_window() -> None:
    limiter = MemoryLimiter()
    one = [Window("minute", 60, 1)]
    assert (await limiter.hit("key", "k1", one, NOON + 61)).allowed
    stale = await limiter.hit("key", "k1", one, NOON + 59)
    assert not stale.allowed
    assert stale.binding.reset == NOON + 120


async def test_unreachable_redis_raises_limiter_error(prefix: str) -> None:
    limiter = open_limiter("redis://127.0.0.1:1/0", prefix=prefix)
    try:
        with pytest.raises(LimiterError):
            await limiter.hit("key", "k1", [MINUTE], NOON)
        with pytest.raises(LimiterError):
            await limiter.ping()
    finally:
        await limiter.close()
    assert isinstance(limiter, RedisLimiter)


def test_open_limiter_chooses_the_backend_by_url() -> None:
    assert isinstance(open_limiter(""), MemoryLimiter)
    assert isinstance(open_limiter("memory://"), MemoryLimiter)
    with pytest.raises(ValueError):
        open_limiter("memcached://127.0.0.1")
    with pytest.raises(ValueError):
        open_limiter("redis")


def test_policy_header_lists_every_window_in_order() -> None:
    assert (
        policy_header((MINUTE, HOUR, DAY))
        == '"minute";q=100;w=60, "hour";q=1000;w=3600, "day";q=10000;w=86400'
    )


def test_window_rejects_invalid_values() -> None:
    with pytest.raises(ValueError):
        Window("minute", 0, 10)
    with pytest.raises(ValueError):
        Window("minute", 60, -1)
    with pytest.raises(ValueError):
        Window('mi"nute', 60, 1)
