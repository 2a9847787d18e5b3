"""Replay guards: first use is admitted, later uses within the ttl are not,
and neither backend ever forgets a live entry."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.errors import ErrorCode
from gateway.ratelimit.clients import open_client
from gateway.wallets import parse_wallet_address
from gateway.wallets.errors import ReplayCacheFull
from gateway.wallets.replay import (
    REPLAY_CLIENT,
    MemoryReplayGuard,
    RedisReplayGuard,
    ReplayGuard,
    replay_key,
)
from gateway.wallets.signing import EvmSigner, StacksSigner
from tests.support.errors import raises_api_error

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    """A settable monotonic clock, so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _backend_url(request: pytest.FixtureRequest, backend: str) -> str:
    """A single Redis (the shared one) or the run's private Redis Cluster."""
    if backend == "cluster":
        url: str = request.getfixturevalue("redis_cluster").url
        return url
    return REDIS_URL


@pytest.fixture(params=["redis", "cluster"])
def redis_url(request: pytest.FixtureRequest) -> str:
    return _backend_url(request, request.param)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.Redis | RedisCluster]:
    client = open_client(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"walletgate-test:{secrets.token_hex(8)}:"
    yield prefix
    # The private cluster goes with the run; the shared Redis is cleaned here.
    cleaner = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in cleaner.scan_iter(match=f"{prefix}*")]
        if keys:
            await cleaner.delete(*keys)
    finally:
        await cleaner.aclose()


@pytest.fixture(params=["memory", "redis", "cluster"])
async def guard(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[ReplayGuard]:
    backend: ReplayGuard = (
        MemoryReplayGuard()
        if request.param == "memory"
        else RedisReplayGuard(
            open_client(_backend_url(request, request.param)), redis_prefix, owns_client=True
        )
    )
    yield backend
    await backend.close()


def key(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()


async def test_first_use_is_admitted_and_second_is_not(guard: ReplayGuard) -> None:
    assert await guard.first_use(key(1), 60) is True
    assert await guard.first_use(key(1), 60) is False
    assert await guard.first_use(key(2), 60) is True


async def test_memory_entry_expires_after_its_ttl(clock: FakeClock) -> None:
    guard = MemoryReplayGuard(clock=clock)
    assert await guard.first_use(key(1), 10)
    clock.now += 9.999
    assert not await guard.first_use(key(1), 10)
    clock.now += 0.001
    assert await guard.first_use(key(1), 10)
    assert not await guard.first_use(key(1), 10)


async def test_memory_guard_full_of_live_entries_refuses_rather_than_forgets(
    clock: FakeClock,
) -> None:
    guard = MemoryReplayGuard(maxsize=3, clock=clock)
    for n in range(3):
        assert await guard.first_use(key(n), 10)
    with raises_api_error() as exc_info:
        await guard.first_use(key(3), 10)
    assert (exc_info.value.status, exc_info.value.code, exc_info.value.message) == (
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        "Replay cache full",
    )
    for n in range(3):
        assert not await guard.first_use(key(n), 10)
    assert len(guard) == 3


async def test_memory_guard_makes_room_from_expired_entries(clock: FakeClock) -> None:
    guard = MemoryReplayGuard(maxsize=3, clock=clock)
    for n in range(3):
        assert await guard.first_use(key(n), 10)
        clock.now += 1
    clock.now += 7  # now 1010: key(0) expired at 1010, key(1) and key(2) live
    assert await guard.first_use(key(3), 10)
    assert len(guard) == 3
    assert not await guard.first_use(key(1), 10)
    assert not await guard.first_use(key(2), 10)


async def test_memory_guard_finds_expired_entries_behind_live_ones(clock: FakeClock) -> None:
    guard = MemoryReplayGuard(maxsize=3, clock=clock)
    assert await guard.first_use(key(0), 100)
    assert await guard.first_use(key(1), 1)
    assert await guard.first_use(key(2), 100)
    with raises_api_error():
        await guard.first_use(key(3), 100)
    clock.now += 1
    assert await guard.first_use(key(3), 100)
    assert not await guard.first_use(key(0), 100)
    assert not await guard.first_use(key(2), 100)


async def test_memory_guard_close_forgets_everything() -> None:
    guard = MemoryReplayGuard()
    await guard.first_use(key(1), 60)
    await guard.close()
    assert len(guard) == 0


def test_memory_guard_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError):
        MemoryReplayGuard(maxsize=0)


async def test_redis_entry_carries_hash_tag_and_ttl(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    guard = RedisReplayGuard(redis_client, redis_prefix)
    assert await guard.first_use(key(1), 599.2)
    name = guard.redis_key(key(1))
    assert name == f"{redis_prefix}replay:{{{key(1).hex()}}}"
    assert 590 <= await redis_client.ttl(name) <= 600


async def test_redis_guard_is_shared_between_instances(
    redis_client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    other_client = open_client(redis_url)
    try:
        first = RedisReplayGuard(redis_client, redis_prefix)
        second = RedisReplayGuard(other_client, redis_prefix, owns_client=True)
        assert await first.first_use(key(7), 60)
        assert not await second.first_use(key(7), 60)
    finally:
        await second.close()


async def test_redis_entry_expires(redis_client: redis.Redis, redis_prefix: str) -> None:
    guard = RedisReplayGuard(redis_client, redis_prefix)
    assert await guard.first_use(key(1), 60)
    await redis_client.pexpire(guard.redis_key(key(1)), 1)
    # Redis checks expiry on access against its own clock: 20 ms is far past 1 ms.
    await asyncio.sleep(0.02)
    assert await guard.first_use(key(1), 60)


async def test_unreachable_redis_refuses_with_503() -> None:
    client = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    guard = RedisReplayGuard(client, "walletgate-test:", owns_client=True)
    with raises_api_error() as exc_info:
        await guard.first_use(key(1), 60)
    assert (exc_info.value.status, exc_info.value.code) == (503, ErrorCode.SERVICE_UNAVAILABLE)
    await guard.close()


async def test_unreachable_cluster_refuses_with_503() -> None:
    guard = RedisReplayGuard(open_client("redis+cluster://127.0.0.1:1"), "t:", owns_client=True)
    with raises_api_error() as exc_info:
        await guard.first_use(key(1), 60)
    assert (exc_info.value.status, exc_info.value.code) == (503, ErrorCode.SERVICE_UNAVAILABLE)
    await guard.close()


def test_replay_key_is_sha256_of_lowercase_address_nul_message() -> None:
    signer = EvmSigner("0x" + "a0" * 32)
    wallet = parse_wallet_address(signer.address)
    message = '{"action":"list_api_keys","note":"caf\u00e9","timestamp":1}'
    expected = hashlib.sha256(
        signer.address.lower().encode() + b"\x00" + message.encode("utf-8")
    ).digest()
    assert replay_key(wallet, message) == expected
    assert replay_key(parse_wallet_address(signer.address.lower()), message) == expected


def test_replay_key_ignores_how_a_stacks_address_was_typed() -> None:
    address = StacksSigner("11" * 32 + "01").address
    typed = address.lower().replace("0", "o").replace("1", "l")
    message = '{"action":"list_api_keys","timestamp":1}'
    assert replay_key(parse_wallet_address(typed), message) == replay_key(
        parse_wallet_address(address), message
    )
    assert (
        replay_key(parse_wallet_address(address), message)
        == hashlib.sha256(address.lower().encode() + b"\x00" + message.encode()).digest()
    )


async def test_one_client_holds_at_most_a_sixteenth_once_the_set_is_half_full() -> None:
    now = [0.0]
    guard = MemoryReplayGuard(maxsize=32, clock=lambda: now[0])

    async def use(client: str, count: int, ttl_s: float = 10.0) -> list[bool]:
        token = REPLAY_CLIENT.set(client)
        try:
            outcomes = []
            for _ in range(count):
                try:
                    outcomes.append(await guard.first_use(secrets.token_bytes(16), ttl_s))
                except ReplayCacheFull:
                    outcomes.append(False)
            return outcomes
        finally:
            REPLAY_CLIENT.reset(token)

    # Alone, one client reaches half the set, then holds far over its share.
    assert await use("203.0.113.1", 20) == [True] * 16 + [False] * 4
    # Others each get a sixteenth (2) of what is left; nobody is refused for them.
    assert await use("203.0.113.2", 3) == [True, True, False]
    assert await use("2001:db8:aa00::/48", 2) == [True, True]
    # Entries made outside any request (no client) are nobody's share.
    assert await use("", 5) == [True] * 5
    # Its entries expire: the client's share is free again.
    now[0] = 11.0
    assert await use("203.0.113.1", 1) == [True]
