"""Usage tallied per request and folded when read or flushed (gateway.keys.usage).

The request path only tallies (key, address, status, permission, second); what
readers and the flush see must be what counting each request on its own gave.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.keys.clients import ClientIp
from gateway.keys.history import HourlyUsage
from gateway.keys.model import ApiKey, Dialect, KeyStatus, Permission
from gateway.keys.store import open_store
from gateway.keys.token import generate_api_key, generate_key_id, hash_api_key, key_hint
from gateway.keys.usage import UsageCounter

# 12:59:58 UTC: the requests below run into the next hour.
T0 = datetime(2030, 1, 1, 12, 59, 58, tzinfo=UTC)
WALLET = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7"


class Time:
    """A settable clock, read as Unix seconds as the app wires it."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def seconds(self) -> float:
        return self.moment.timestamp()


def make_key() -> ApiKey:
    plaintext = generate_api_key("ck_live_")
    return ApiKey(
        id=generate_key_id(),
        key_hash=hash_api_key(plaintext),
        key_hint=key_hint(plaintext),
        wallet=WALLET,
        wallet_display=WALLET,
        chain="stacks",
        dialect=Dialect.V1,
        name="bot",
        permissions=frozenset(Permission),
        status=KeyStatus.ACTIVE,
        rate_limit=100,
        created_at=T0 - timedelta(days=1),
    )


def record_sample(usage: UsageCounter, time: Time, key: ApiKey) -> None:
    """Seven requests over four seconds, two addresses, every outcome."""
    a, b = "203.0.113.7", "198.51.100.4"
    plan = [
        (0.1, a, 200, Permission.EXECUTE),
        (0.9, a, 200, Permission.EXECUTE),  # same second, same tally
        (1.2, b, 201, Permission.CREATE),
        (1.5, a, 403, Permission.CANCEL),
        (2.0, a, 429, None),
        (3.7, b, 502, Permission.EXECUTE),
        (3.8, a, 200, Permission.CANCEL),
    ]
    for offset, ip, status, permission in plan:
        time.moment = T0 + timedelta(seconds=offset)
        if permission is None:
            usage.record_rate_limited(key.id, ip)
        else:
            usage.record(key.id, status, permission, ip)


def test_pending_usage_counts_every_request_to_the_second() -> None:
    time = Time(T0)
    key = make_key()
    usage = UsageCounter(None, timedelta(days=7), time.seconds)  # type: ignore[arg-type]
    record_sample(usage, time, key)
    seen = usage.with_pending(key)
    assert seen.usage.total_requests == 7 and seen.usage.successful_requests == 4
    assert seen.usage.failed_requests == 3 and seen.usage.rate_limited_requests == 1
    assert (seen.usage.creation_count, seen.usage.execution_count) == (1, 2)
    assert seen.usage.cancellation_count == 1
    assert seen.last_used_at == T0 + timedelta(seconds=3)  # 13:00:01.8, to the second
    # Reading folds nothing twice: a second read sees the same.
    assert usage.with_pending(key).usage == seen.usage


async def test_the_flush_stores_what_each_request_counted(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/keys.db")
    await store.open()
    try:
        time = Time(T0)
        key = make_key()
        assert await store.insert(key)
        usage = UsageCounter(store, timedelta(days=7), time.seconds)
        record_sample(usage, time, key)
        # Readers see the unflushed tallies.
        clients = (await usage.clients_for([key]))[key.id]
        assert clients == [
            ClientIp("203.0.113.7", T0, T0 + timedelta(seconds=3), 5),
            ClientIp("198.51.100.4", T0 + timedelta(seconds=1), T0 + timedelta(seconds=3), 2),
        ]
        events = await usage.flush()
        assert sorted((e.client_ip, e.at) for e in events) == [
            ("198.51.100.4", T0 + timedelta(seconds=1)),
            ("203.0.113.7", T0),
        ]
        stored = await store.get(key.id)
        assert stored is not None and stored.usage.total_requests == 7
        assert stored.usage.execution_count == 2 and stored.usage.rate_limited_requests == 1
        assert stored.last_used_at == T0 + timedelta(seconds=3)
        noon, one = T0.replace(minute=0, second=0), T0.replace(hour=13, minute=0, second=0)
        assert (await usage.hourly_for([key]))[key.id] == [
            HourlyUsage(noon, success=3, client_error=1),
            HourlyUsage(one, success=1, rate_limited=1, server_error=1),
        ]
        assert await usage.flush() == []  # nothing left to write
        assert (await store.client_ips([key.id]))[key.id] == clients
    finally:
        await store.close()
