"""One behaviour suite for both key store backends (SQLite, PostgreSQL), and the key record."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from gateway.keys.audit import OPERATOR, EventKind, KeyEvent, Origin, new_event
from gateway.keys.clients import ClientIp
from gateway.keys.history import HourlyUsage, hour_of
from gateway.keys.model import (
    ApiKey,
    Dialect,
    KeyStatus,
    Permission,
    UsageDelta,
    UsageStats,
)
from gateway.keys.store import KeyStore, StoreError, open_store
from gateway.keys.store.sqlite import path_from_url
from gateway.keys.token import generate_api_key, generate_key_id, hash_api_key, key_hint

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_ADMIN_DB = f"{PG_SERVER}/test"
STACKS_WALLET = "SP3K8BC0PPEVCV7NZ6QSRWPQ2JE9E5B6N3PA0KBR9"
EVM_WALLET = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
ALL_PERMISSIONS = frozenset(Permission)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_key(
    wallet: str = STACKS_WALLET, *, dialect: Dialect = Dialect.V1, **changes: object
) -> ApiKey:
    plaintext = generate_api_key("stk_" if dialect is Dialect.EVM else "ck_live_")
    key = ApiKey(
        id=generate_key_id(),
        key_hash=hash_api_key(plaintext),
        key_hint=key_hint(plaintext),
        wallet=wallet,
        wallet_display=wallet,
        chain="evm" if wallet.startswith("0x") else "stacks",
        dialect=dialect,
        name="trading bot",
        permissions=ALL_PERMISSIONS,
        status=KeyStatus.ACTIVE,
        rate_limit=100,
        created_at=utcnow(),
    )
    return dataclasses.replace(key, **changes)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/data/keys.db"
        return
    name = f"wg_test_{secrets.token_hex(8)}"
    admin = await asyncpg.connect(PG_ADMIN_DB)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield f"{PG_SERVER}/{name}"
    admin = await asyncpg.connect(PG_ADMIN_DB)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[KeyStore]:
    opened = open_store(store_url)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def second_store(store_url: str, store: KeyStore) -> AsyncIterator[KeyStore]:
    """Another instance on the same database, as a second gateway process would open it."""
    opened = open_store(store_url)
    await opened.open()
    yield opened
    await opened.close()


# -- records round-trip ------------------------------------------------------------


async def test_inserted_key_round_trips_every_field(store: KeyStore):
    now = utcnow()
    key = make_key(
        name="bot ✓ «prod»",
        wallet_display=STACKS_WALLET.lower(),
        permissions=frozenset({Permission.CREATE, Permission.CANCEL}),
        status=KeyStatus.SUSPENDED,
        rate_limit=42,
        created_at=now.astimezone(timezone(timedelta(hours=2))),
        last_used_at=now - timedelta(seconds=5, microseconds=7),
        expires_at=now + timedelta(days=30),
        revoke_at=now + timedelta(hours=1),
        ip_allowlist=("10.0.0.0/8", "2001:db8::/32"),
        usage=UsageStats(10, 7, 3, 2, 1, 1),
    )
    assert await store.insert(key) is True

    for loaded in (await store.get(key.id), await store.get_by_hash(key.key_hash)):
        assert loaded == key
        assert loaded is not None
        assert isinstance(loaded.permissions, frozenset)
        assert isinstance(loaded.ip_allowlist, tuple)
        assert loaded.dialect is Dialect.V1 and loaded.status is KeyStatus.SUSPENDED
        for moment in (loaded.created_at, loaded.last_used_at, loaded.expires_at):
            assert moment is not None and moment.utcoffset() == timedelta(0)


async def test_key_without_optional_fields_round_trips(store: KeyStore):
    key = make_key(EVM_WALLET, dialect=Dialect.EVM, permissions=frozenset())
    await store.insert(key)
    loaded = await store.get(key.id)
    assert loaded == key
    assert loaded is not None and loaded.last_used_at is None and loaded.ip_allowlist == ()


async def test_unknown_id_or_hash_finds_nothing(store: KeyStore):
    assert await store.get("key_0000000000000000") is None
    assert await store.get_by_hash("0" * 64) is None


async def test_second_key_with_the_same_hash_is_refused_with_store_error(store: KeyStore):
    key = make_key()
    await store.insert(key)
    with pytest.raises(StoreError):
        await store.insert(dataclasses.replace(key, id=generate_key_id()))


# -- listing and counting ----------------------------------------------------------


async def test_list_filters_by_wallet_and_status_newest_first(store: KeyStore):
    base = utcnow()
    mine = [make_key(created_at=base + timedelta(seconds=i)) for i in range(4)]
    other = make_key(EVM_WALLET, created_at=base + timedelta(seconds=10))
    for key in [*mine, other]:
        await store.insert(key)
    await store.set_status(mine[1].id, KeyStatus.REVOKED)

    listed = await store.list_keys(wallet=STACKS_WALLET)
    assert [k.id for k in listed] == [k.id for k in reversed(mine)]
    active = await store.list_keys(wallet=STACKS_WALLET, status=KeyStatus.ACTIVE)
    assert [k.id for k in active] == [mine[3].id, mine[2].id, mine[0].id]
    everyone = await store.list_keys()
    assert [k.id for k in everyone][:2] == [other.id, mine[3].id]
    assert [k.id for k in await store.list_keys(limit=2)] == [other.id, mine[3].id]
    assert await store.list_keys(wallet="SP000000000000000000002Q6VF78") == []


async def test_count_by_status_counts_each_effective_status(store: KeyStore):
    keys = [make_key() for _ in range(5)]
    for key in keys:
        await store.insert(key)
    await store.set_status(keys[0].id, KeyStatus.SUSPENDED)
    await store.set_status(keys[1].id, KeyStatus.REVOKED)
    await store.schedule_revocation(keys[2].id, utcnow() - timedelta(seconds=1))
    assert await store.count_by_status() == {
        KeyStatus.ACTIVE: 2,
        KeyStatus.SUSPENDED: 1,
        KeyStatus.REVOKED: 2,
    }


async def test_empty_store_counts_zero_for_every_status(store: KeyStore):
    assert await store.count_by_status() == dict.fromkeys(KeyStatus, 0)


# -- status changes ------------------------------------------------------------------


async def test_suspended_key_can_be_resumed(store: KeyStore):
    key = make_key()
    await store.insert(key)
    suspended = await store.set_status(key.id, KeyStatus.SUSPENDED)
    assert suspended is not None and suspended.status is KeyStatus.SUSPENDED
    resumed = await store.set_status(key.id, KeyStatus.ACTIVE)
    assert resumed is not None and resumed.status is KeyStatus.ACTIVE
    assert await store.get(key.id) == resumed


async def test_revoked_is_final(store: KeyStore):
    key = make_key()
    await store.insert(key)
    revoked = await store.set_status(key.id, KeyStatus.REVOKED)
    for status in (KeyStatus.ACTIVE, KeyStatus.SUSPENDED):
        assert await store.set_status(key.id, status) == revoked
    stored = await store.get(key.id)
    assert stored is not None and stored.status is KeyStatus.REVOKED


async def test_status_change_of_unknown_key_gives_none(store: KeyStore):
    assert await store.set_status("key_ffffffffffffffff", KeyStatus.REVOKED) is None
    assert await store.schedule_revocation("key_ffffffffffffffff", utcnow()) is None


async def test_scheduled_revocation_keeps_the_earliest_moment(store: KeyStore):
    key = make_key()
    await store.insert(key)
    soon = utcnow() + timedelta(minutes=5)
    first = await store.schedule_revocation(key.id, soon)
    later = await store.schedule_revocation(key.id, soon + timedelta(hours=1))
    assert first is not None and later is not None
    assert first.revoke_at == later.revoke_at == soon
    assert later.effective_status(utcnow()) is KeyStatus.ACTIVE
    assert later.effective_status(soon) is KeyStatus.REVOKED
    assert later.status is KeyStatus.ACTIVE


async def test_key_past_its_revocation_moment_lists_as_revoked(store: KeyStore):
    key = make_key()
    await store.insert(key)
    await store.schedule_revocation(key.id, utcnow() - timedelta(seconds=1))
    assert [k.id for k in await store.list_keys(status=KeyStatus.REVOKED)] == [key.id]
    assert await store.list_keys(status=KeyStatus.ACTIVE) == []


# -- one usable key per wallet and dialect -------------------------------------------


async def test_exclusive_insert_is_refused_while_a_usable_key_exists(store: KeyStore):
    first = make_key(EVM_WALLET, dialect=Dialect.EVM)
    second = make_key(EVM_WALLET, dialect=Dialect.EVM)
    assert await store.insert(first, exclusive=True) is True
    assert await store.insert(second, exclusive=True) is False
    assert await store.get(second.id) is None
    await store.set_status(first.id, KeyStatus.REVOKED)
    assert await store.insert(second, exclusive=True) is True


async def test_exclusive_insert_admits_exactly_one_of_many_concurrent_callers(store: KeyStore):
    keys = [make_key(EVM_WALLET, dialect=Dialect.EVM) for _ in range(50)]
    results = await asyncio.gather(*(store.insert(k, exclusive=True) for k in keys))
    assert results.count(True) == 1
    assert len(await store.list_keys(wallet=EVM_WALLET)) == 1


async def test_exclusive_insert_is_atomic_across_store_instances(
    store: KeyStore, second_store: KeyStore
):
    keys = [make_key(EVM_WALLET, dialect=Dialect.EVM) for _ in range(50)]
    instances = (store, second_store)
    results = await asyncio.gather(
        *(instances[i % 2].insert(k, exclusive=True) for i, k in enumerate(keys))
    )
    assert results.count(True) == 1
    assert len(await second_store.list_keys(wallet=EVM_WALLET)) == 1


async def test_exclusive_insert_ignores_keys_that_cannot_be_used(store: KeyStore):
    now = utcnow()
    blockers_that_do_not_block = [
        make_key(EVM_WALLET, dialect=Dialect.V1),
        make_key(EVM_WALLET.replace("5a", "6b"), dialect=Dialect.EVM),
        make_key(EVM_WALLET, dialect=Dialect.EVM, status=KeyStatus.REVOKED),
        make_key(EVM_WALLET, dialect=Dialect.EVM, status=KeyStatus.SUSPENDED),
        make_key(EVM_WALLET, dialect=Dialect.EVM, expires_at=now - timedelta(seconds=1)),
        make_key(EVM_WALLET, dialect=Dialect.EVM, revoke_at=now - timedelta(seconds=1)),
    ]
    for key in blockers_that_do_not_block:
        assert await store.insert(key) is True
    assert await store.insert(make_key(EVM_WALLET, dialect=Dialect.EVM), exclusive=True)


async def test_key_in_rotation_grace_still_blocks_exclusive_insert(store: KeyStore):
    old = make_key(EVM_WALLET, dialect=Dialect.EVM, revoke_at=utcnow() + timedelta(minutes=1))
    await store.insert(old)
    assert await store.insert(make_key(EVM_WALLET, dialect=Dialect.EVM), exclusive=True) is False


async def test_count_active_counts_only_the_wallets_live_unscheduled_keys(store: KeyStore):
    now = utcnow()
    counted = [make_key(EVM_WALLET), make_key(EVM_WALLET, dialect=Dialect.EVM)]
    counted.append(make_key(EVM_WALLET, expires_at=now + timedelta(hours=1)))
    not_counted = [
        make_key(EVM_WALLET.replace("5a", "6b")),
        make_key(EVM_WALLET, status=KeyStatus.REVOKED),
        make_key(EVM_WALLET, status=KeyStatus.SUSPENDED),
        make_key(EVM_WALLET, expires_at=now - timedelta(seconds=1)),
        make_key(EVM_WALLET, revoke_at=now + timedelta(minutes=1)),
    ]
    for key in counted + not_counted:
        assert await store.insert(key) is True
    assert await store.count_active(EVM_WALLET, now) == len(counted)
    assert await store.count_active(STACKS_WALLET, now) == 0


async def test_operations_counts_what_was_asked_of_the_store(store: KeyStore):
    key = make_key()
    before = store.operations.copy()
    await store.insert(key)
    for _ in range(3):
        assert await store.get_by_hash(key.key_hash) is not None
    assert store.operations["get_by_hash"] - before["get_by_hash"] == 3
    assert store.operations["insert"] - before["insert"] == 1


# -- usage -------------------------------------------------------------------------------


async def test_usage_accumulates_over_batches_and_keeps_latest_use(store: KeyStore):
    a, b = make_key(), make_key()
    await store.insert(a)
    await store.insert(b)
    t0 = utcnow()
    batches = [
        {a.id: UsageDelta(3, 2, 1, 1, 0, 0, t0), b.id: UsageDelta(1, 1, 0, 0, 1, 0, t0)},
        {a.id: UsageDelta(2, 2, 0, 0, 1, 1, t0 + timedelta(seconds=2))},
        # An older batch flushed late must not move lastUsedAt back.
        {a.id: UsageDelta(1, 0, 1, 0, 0, 0, t0 + timedelta(seconds=1))},
        {b.id: UsageDelta(), "key_doesnotexist00": UsageDelta(5, 5, 0, 0, 0, 0, t0)},
    ]
    for batch in batches:
        await store.add_usage(batch)
    await store.add_usage({})

    stored_a, stored_b = await store.get(a.id), await store.get(b.id)
    assert stored_a is not None and stored_b is not None
    assert stored_a.usage == UsageStats(6, 4, 2, 1, 1, 1)
    assert stored_a.last_used_at == t0 + timedelta(seconds=2)
    assert stored_b.usage == UsageStats(1, 1, 0, 0, 1, 0)
    assert stored_b.last_used_at == t0


# -- change log across instances ------------------------------------------------------


async def test_status_change_by_one_instance_is_seen_by_another(
    store: KeyStore, second_store: KeyStore
):
    a, b = make_key(), make_key()
    await store.insert(a)
    await store.insert(b)
    cursor = await second_store.change_cursor()

    await store.set_status(a.id, KeyStatus.SUSPENDED)
    await store.schedule_revocation(b.id, utcnow() + timedelta(seconds=30))
    cursor, changed = await second_store.changes_since(cursor)
    assert changed == [a.key_hash, b.key_hash]
    assert await second_store.changes_since(cursor) == (cursor, [])
    assert await second_store.change_cursor() == cursor

    await store.set_status(a.id, KeyStatus.REVOKED)
    cursor, changed = await second_store.changes_since(cursor)
    assert changed == [a.key_hash]


async def test_operations_that_change_nothing_log_nothing(store: KeyStore):
    key = make_key(revoke_at=utcnow() + timedelta(minutes=1))
    await store.insert(key)
    cursor = await store.change_cursor()
    await store.set_status(key.id, KeyStatus.ACTIVE)
    await store.schedule_revocation(key.id, utcnow() + timedelta(minutes=2))
    await store.add_usage({key.id: UsageDelta(1, 1, 0, 0, 0, 0, utcnow())})
    assert await store.changes_since(cursor) == (cursor, [])


# -- lifecycle and failures ---------------------------------------------------------------


async def test_schema_and_data_survive_reopening(store_url: str):
    key = make_key()
    first = open_store(store_url)
    await first.open()
    await first.insert(key)
    await first.close()
    # Several instances starting at once must migrate without tripping over each other.
    reopened = [open_store(store_url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in reopened))
    for instance in reopened:
        assert await instance.get(key.id) == key
        await instance.ping()
        await instance.close()


# Inserts one key, reports it, then dies at once: nothing runs after the insert returns.
_INSERT_THEN_DIE = """
import asyncio, os, signal, sys
from datetime import UTC, datetime
from gateway.keys.model import ApiKey, Dialect, KeyStatus
from gateway.keys.store import open_store

async def main(url, key_id, key_hash):
    store = open_store(url)
    await store.open()
    key = ApiKey(
        id=key_id, key_hash=key_hash, key_hint="ck_live_", wallet="SP1", wallet_display="SP1",
        chain="stacks", dialect=Dialect.V1, name="n", permissions=frozenset(),
        status=KeyStatus.ACTIVE, rate_limit=1, created_at=datetime.now(UTC),
    )
    assert await store.insert(key)
    print("inserted", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_inserted_key_survives_a_killed_process(store_url: str):
    key_id, key_hash = generate_key_id(), secrets.token_hex(32)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _INSERT_THEN_DIE, store_url, key_id, key_hash],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.stdout.strip() == "inserted", done.stderr
    assert done.returncode == -9
    reopened = open_store(store_url)
    await reopened.open()
    try:
        stored = await reopened.get(key_id)
        assert stored is not None and stored.key_hash == key_hash
    finally:
        await reopened.close()


async def test_unreachable_store_raises_store_error(store_url: str, tmp_path: Path):
    if store_url.startswith("sqlite"):
        blocker = tmp_path / "not_a_dir"
        blocker.write_text("")
        url = f"sqlite:///{blocker}/keys.db"
    else:
        url = "postgresql://postgres@127.0.0.1:1/nothing"
    with pytest.raises(StoreError):
        await open_store(url).open()


async def test_closed_store_raises_store_error(store_url: str):
    closed = open_store(store_url)
    await closed.open()
    await closed.close()
    with pytest.raises(StoreError):
        await closed.ping()
    with pytest.raises(StoreError):
        await closed.get("key_0000000000000000")


def test_unknown_store_scheme_is_refused_naming_the_scheme():
    with pytest.raises(ValueError, match="mysql"):
        open_store("mysql://root@localhost/keys")
    with pytest.raises(ValueError):
        open_store("keys.db")


def test_sqlite_urls_name_relative_and_absolute_files():
    assert path_from_url("sqlite:///data/walletgate.db") == "data/walletgate.db"
    assert path_from_url("sqlite:////var/lib/wg/keys.db") == "/var/lib/wg/keys.db"
    assert type(open_store("postgres://u@h/db")) is type(open_store("postgresql://u@h/db"))


# -- the record model --------------------------------------------------------------------


def test_revocation_moment_and_expiry_decide_usability():
    now = utcnow()
    key = make_key(revoke_at=now + timedelta(seconds=10), expires_at=now + timedelta(hours=1))
    assert key.is_usable(now)
    assert key.effective_status(now + timedelta(seconds=10)) is KeyStatus.REVOKED
    assert not key.is_usable(now + timedelta(seconds=10))
    expired = dataclasses.replace(key, revoke_at=None, expires_at=now)
    assert expired.is_expired(now) and not expired.is_usable(now)
    suspended = dataclasses.replace(key, status=KeyStatus.SUSPENDED)
    assert suspended.effective_status(now) is KeyStatus.SUSPENDED
    assert not suspended.is_usable(now)


def test_key_repr_reveals_no_hash_or_hint():
    key = make_key()
    text = repr(key)
    assert key.key_hash not in text and key.key_hint not in text and key.id in text


def test_key_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="created_at"):
        make_key(created_at=datetime(2024, 1, 1))


def test_usage_delta_adds_counters_and_keeps_latest_use():
    t0 = utcnow()
    total = UsageDelta()
    assert total.is_empty()
    total.add(UsageDelta(1, 1, 0, 1, 0, 0, t0 + timedelta(seconds=1)))
    total.add(UsageDelta(2, 0, 2, 0, 1, 1, t0))
    assert total == UsageDelta(3, 1, 2, 1, 1, 1, t0 + timedelta(seconds=1))
    assert not total.is_empty()
    assert UsageStats(1, 1, 0, 0, 0, 0).plus(total) == UsageStats(4, 2, 2, 1, 1, 1)


def test_usage_stats_serialise_in_camel_case():
    assert UsageStats(6, 4, 2, 1, 1, 1, 2).to_json() == {
        "totalRequests": 6,
        "successfulRequests": 4,
        "failedRequests": 2,
        "creationCount": 1,
        "executionCount": 1,
        "cancellationCount": 1,
        "rateLimitedRequests": 2,
    }


# -- the audit trail and hourly usage (schema version 2) -------------------------------


def event_for(key: ApiKey, kind: EventKind, **details: object) -> KeyEvent:
    return new_event(kind, key.id, utcnow(), Origin("wallet", "203.0.113.7"), details)


async def test_insert_stores_its_event_with_the_key_wallet_in_one_go(store: KeyStore):
    key = make_key()
    assert await store.insert(key, event=event_for(key, EventKind.CREATED, name="bot"))
    [event] = await store.list_events(key_id=key.id)
    assert (event.kind, event.key_id, event.wallet) == (EventKind.CREATED, key.id, key.wallet)
    assert (event.actor, event.client_ip) == ("wallet", "203.0.113.7")
    assert dict(event.details) == {"name": "bot"}
    assert event.seq > 0


async def test_refused_exclusive_insert_stores_no_event(store: KeyStore):
    first = make_key(dialect=Dialect.EVM)
    assert await store.insert(first, exclusive=True, event=event_for(first, EventKind.GENERATED))
    second = make_key(dialect=Dialect.EVM)
    assert not await store.insert(
        second, exclusive=True, event=event_for(second, EventKind.GENERATED)
    )
    assert await store.list_events(key_id=second.id) == []


async def test_status_event_is_stored_only_when_the_status_changed(store: KeyStore):
    key = make_key()
    await store.insert(key)
    suspend = new_event(EventKind.SUSPENDED, key.id, utcnow(), OPERATOR)
    await store.set_status(key.id, KeyStatus.SUSPENDED, event=suspend)
    await store.set_status(key.id, KeyStatus.SUSPENDED, event=suspend)  # no change
    revoke = new_event(EventKind.REVOKED, key.id, utcnow(), OPERATOR)
    await store.set_status(key.id, KeyStatus.REVOKED, event=revoke)
    await store.set_status(key.id, KeyStatus.ACTIVE, event=revoke)  # revocation is final
    events = await store.list_events(key_id=key.id)
    assert [e.kind for e in events] == [EventKind.REVOKED, EventKind.SUSPENDED]  # newest first
    assert {e.wallet for e in events} == {key.wallet}  # filled from the row
    assert {e.actor for e in events} == {"operator"}


async def test_scheduled_revocation_stores_its_event(store: KeyStore):
    key = make_key()
    await store.insert(key)
    rotated = new_event(EventKind.ROTATED, key.id, utcnow(), OPERATOR, {"graceSeconds": 60})
    await store.schedule_revocation(key.id, utcnow() + timedelta(minutes=1), event=rotated)
    [event] = await store.list_events(key_id=key.id)
    assert (event.kind, dict(event.details)) == (EventKind.ROTATED, {"graceSeconds": 60})


async def test_events_page_backwards_and_filter_by_wallet_and_time(store: KeyStore):
    mine, theirs = make_key(), make_key(EVM_WALLET, dialect=Dialect.EVM)
    for key in (mine, theirs):
        await store.insert(key, event=event_for(key, EventKind.CREATED))
    for status in (KeyStatus.SUSPENDED, KeyStatus.ACTIVE, KeyStatus.SUSPENDED):
        await store.set_status(mine.id, status, event=event_for(mine, EventKind.SUSPENDED))
    first = await store.list_events(key_id=mine.id, limit=2)
    rest = await store.list_events(key_id=mine.id, before_seq=first[-1].seq, limit=10)
    seqs = [e.seq for e in first + rest]
    assert len(seqs) == 4 and seqs == sorted(seqs, reverse=True)
    assert {e.key_id for e in await store.list_events(wallet=EVM_WALLET)} == {theirs.id}
    assert await store.list_events(since=utcnow() + timedelta(seconds=5)) == []
    assert len(await store.list_events()) == 5


async def test_expiry_is_recorded_once_for_each_expired_key(store: KeyStore, second_store):
    expired = make_key(expires_at=utcnow() - timedelta(seconds=1))
    later = make_key(expires_at=utcnow() + timedelta(hours=1))
    revoked = make_key(expires_at=utcnow() - timedelta(seconds=1), status=KeyStatus.REVOKED)
    for key in (expired, later, revoked):
        await store.insert(key)
    swept = await asyncio.gather(
        store.record_expiries(utcnow()), second_store.record_expiries(utcnow())
    )
    recorded = [e for batch in swept for e in batch]
    assert [(e.kind, e.key_id, e.actor) for e in recorded] == [
        (EventKind.EXPIRED, expired.id, "system")
    ]
    assert recorded[0].at == expired.expires_at
    assert await store.record_expiries(utcnow()) == []


async def test_hourly_usage_adds_up_and_old_hours_are_pruned(store: KeyStore):
    key = make_key()
    await store.insert(key)
    now = hour_of(utcnow())
    old = now - timedelta(days=8)
    batch = {
        (key.id, now): HourlyUsage(now, 3, 1, 2, 1),
        (key.id, old): HourlyUsage(old, 5, 0, 0, 0),
    }
    await store.add_usage({}, batch)
    await store.add_usage({}, {(key.id, now): HourlyUsage(now, 1, 0, 0, 0)})
    since = now - timedelta(days=30)
    stored = await store.hourly_usage([key.id], since)
    assert stored == {key.id: [HourlyUsage(old, 5, 0, 0, 0), HourlyUsage(now, 4, 1, 2, 1)]}
    await store.add_usage({}, {}, keep_since=now - timedelta(days=7))
    assert await store.hourly_usage([key.id, "key_none"], since) == {
        key.id: [HourlyUsage(now, 4, 1, 2, 1)]
    }


# -- client addresses and the new_ip decision ----------------------------------------


def seen(ip: str, first: datetime, last: datetime | None = None, requests: int = 1) -> ClientIp:
    return ClientIp(ip, first, last or first, requests)


async def test_rate_limited_requests_are_a_counter_of_their_own(store: KeyStore):
    key = make_key()
    await store.insert(key)
    delta = UsageDelta(12, 5, 7, 0, 0, 0, utcnow(), rate_limited_requests=7)
    await store.add_usage({key.id: delta})
    stored = await store.get(key.id)
    assert stored is not None
    assert stored.usage == UsageStats(12, 5, 7, 0, 0, 0, 7)
    assert stored.usage.to_json()["rateLimitedRequests"] == 7


async def test_client_addresses_add_up_and_each_new_one_is_an_event_once(store: KeyStore):
    key = make_key()
    await store.insert(key)
    t0 = utcnow() - timedelta(days=40)
    first = await store.add_usage(
        {}, clients={(key.id, "203.0.113.7"): seen("203.0.113.7", t0, t0, 3)}
    )
    assert [(e.kind, e.key_id, e.client_ip, e.actor) for e in first] == [
        (EventKind.NEW_IP, key.id, "203.0.113.7", f"key:{key.id}")
    ]
    assert first[0].wallet == key.wallet and first[0].at == t0
    # Within 30 days: counted on, no event.
    t1 = t0 + timedelta(days=29)
    assert (
        await store.add_usage({}, clients={(key.id, "203.0.113.7"): seen("203.0.113.7", t1)}) == []
    )
    assert await store.client_ips([key.id]) == {key.id: [ClientIp("203.0.113.7", t0, t1, 4)]}
    # Unused for more than 30 days: new again, and a new run of counts.
    t2 = t1 + timedelta(days=31)
    again = await store.add_usage({}, clients={(key.id, "203.0.113.7"): seen("203.0.113.7", t2)})
    assert [e.kind for e in again] == [EventKind.NEW_IP]
    assert again[0].details["lastSeen"] == t1.isoformat()
    assert await store.client_ips([key.id]) == {key.id: [ClientIp("203.0.113.7", t2, t2, 1)]}
    trail = await store.list_events(key_id=key.id)
    assert [e.kind for e in trail] == [EventKind.NEW_IP, EventKind.NEW_IP]
    # A key the store does not know is skipped, not an error.
    assert await store.add_usage({}, clients={("key_none", "10.0.0.1"): seen("10.0.0.1", t2)}) == []


async def test_the_most_recent_twenty_addresses_are_kept_and_shown(store: KeyStore):
    key = make_key()
    other = make_key()
    await store.insert(key)
    await store.insert(other)
    now = utcnow()
    batch = {
        (key.id, f"10.0.0.{i}"): seen(f"10.0.0.{i}", now - timedelta(days=60 - i))
        for i in range(25)
    }
    batch[(other.id, "192.0.2.1")] = seen("192.0.2.1", now)
    events = await store.add_usage({}, clients=batch)
    assert len(events) == 26
    shown = await store.client_ips([key.id, other.id, "key_none"])
    assert [c.ip for c in shown[key.id]] == [f"10.0.0.{i}" for i in range(24, 4, -1)]
    assert [c.ip for c in shown[other.id]] == ["192.0.2.1"]
    assert "key_none" not in shown


async def test_a_new_address_seen_by_two_instances_at_once_is_one_event(
    store: KeyStore, second_store: KeyStore
):
    key = make_key()
    await store.insert(key)
    now = utcnow()
    results = await asyncio.gather(
        *(
            instance.add_usage({}, clients={(key.id, "198.51.100.4"): seen("198.51.100.4", now)})
            for instance in (store, second_store, store, second_store)
        )
    )
    assert sum(len(events) for events in results) == 1
    assert await store.client_ips([key.id]) == {key.id: [ClientIp("198.51.100.4", now, now, 4)]}
    assert [e.kind for e in await store.list_events(key_id=key.id)] == [EventKind.NEW_IP]


async def test_a_version_2_store_is_migrated_with_its_keys_and_counts(
    store_url: str, monkeypatch: pytest.MonkeyPatch
):
    from gateway.keys.store import base, postgres, sqlite
    from gateway.keys.store.sqlite_trail import encode_time

    backend = sqlite if store_url.startswith("sqlite") else postgres
    full = backend.MIGRATIONS
    monkeypatch.setattr(backend, "MIGRATIONS", full[:2])
    old = open_store(store_url)
    await old.open()
    await old.close()
    # A key written by the version-2 code: every column but the new counter.
    key = make_key(usage=UsageStats(5, 5, 0, 0, 0, 0))
    columns = base.KEY_COLUMNS[:-1]
    if backend is sqlite:
        values = base.key_values(key, encode_time)[:-1]
        with sqlite3.connect(path_from_url(store_url)) as db:
            marks = ", ".join("?" for _ in columns)
            db.execute(f"INSERT INTO api_keys ({', '.join(columns)}) VALUES ({marks})", values)
    else:
        values = base.key_values(key, lambda moment: moment)[:-1]
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        db = await asyncpg.connect(store_url)
        try:
            await db.execute(
                f"INSERT INTO api_keys ({', '.join(columns)}) VALUES ({marks})", *values
            )
        finally:
            await db.close()

    monkeypatch.setattr(backend, "MIGRATIONS", full)
    store = open_store(store_url)
    await store.open()
    try:
        now = utcnow()
        delta = UsageDelta(2, 1, 1, 0, 0, 0, now, rate_limited_requests=1)
        events = await store.add_usage(
            {key.id: delta}, clients={(key.id, "192.0.2.9"): seen("192.0.2.9", now)}
        )
        assert [e.kind for e in events] == [EventKind.NEW_IP]
        stored = await store.get(key.id)
        assert stored is not None and stored.usage == UsageStats(7, 6, 1, 0, 0, 0, 1)
    finally:
        await store.close()
