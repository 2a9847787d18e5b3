"""The operator queries of both key store backends (SQLite, PostgreSQL), one suite."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from gateway.keys.audit import OPERATOR, EventKind, new_event
from gateway.keys.history import HourlyUsage, hour_of
from gateway.keys.model import KeyStatus
from gateway.keys.store import KeyStore
from gateway.keys.store.admin_base import TopBy, changed_wallet
from tests.contract.test_key_store import EVM_WALLET, STACKS_WALLET, make_key, utcnow


def _tier_event(wallet: str, tier: str | None):  # type: ignore[no-untyped-def]
    return new_event(EventKind.LIMITS_CHANGED, "", utcnow(), OPERATOR, {"tier": tier}, wallet)


async def test_pages_of_keys_cover_every_key_once_newest_first_across_ties(store: KeyStore):
    same_second = utcnow().replace(microsecond=0)
    keys = [make_key(created_at=same_second) for _ in range(3)]
    keys += [make_key(EVM_WALLET, created_at=same_second - timedelta(seconds=i)) for i in (1, 2)]
    for key in keys:
        await store.insert(key)
    seen, after = [], None
    for _ in range(10):
        page = await store.list_keys_page(after=after, limit=2)
        seen += page
        if len(page) < 2:
            break
        after = (page[-1].created_at, page[-1].id)
    assert [k.id for k in seen] == [
        k.id for k in sorted(keys, key=lambda k: (k.created_at, k.id), reverse=True)
    ]
    evm = await store.list_keys_page(wallet=EVM_WALLET, limit=10)
    assert {k.wallet for k in evm} == {EVM_WALLET} and len(evm) == 2


async def test_limit_changes_store_their_event_and_reach_the_change_log(
    store: KeyStore, second_store: KeyStore
):
    key = make_key()
    await store.insert(key)
    cursor = await second_store.change_cursor()
    expiry = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    event = new_event(EventKind.LIMITS_CHANGED, key.id, utcnow(), OPERATOR, {"rateLimit": 7})
    changed = await store.update_limits(
        key.id, rate_limit=7, expires_at=expiry, clear_expiry=False, event=event
    )
    assert changed is not None and (changed.rate_limit, changed.expires_at) == (7, expiry)
    _, hashes = await second_store.changes_since(cursor)
    assert hashes == [key.key_hash]
    (stored,) = await store.list_events(kind=EventKind.LIMITS_CHANGED)
    assert (stored.key_id, stored.wallet, dict(stored.details)) == (
        key.id,
        key.wallet,
        {"rateLimit": 7},
    )

    cleared = await store.update_limits(
        key.id, rate_limit=None, expires_at=None, clear_expiry=True, event=event
    )
    assert cleared is not None and (cleared.rate_limit, cleared.expires_at) == (7, None)


async def test_a_revoked_key_keeps_its_limits(store: KeyStore):
    key = make_key(status=KeyStatus.REVOKED)
    await store.insert(key)
    event = new_event(EventKind.LIMITS_CHANGED, key.id, utcnow(), OPERATOR)
    assert (
        await store.update_limits(
            key.id, rate_limit=1, expires_at=None, clear_expiry=False, event=event
        )
        is None
    )
    assert (await store.get(key.id)) == key
    assert await store.list_events(kind=EventKind.LIMITS_CHANGED) == []


async def test_wallet_tiers_are_durable_and_logged_for_other_instances(
    store: KeyStore, second_store: KeyStore
):
    cursor = await second_store.change_cursor()
    assert (
        await store.set_wallet_tier(STACKS_WALLET, "mm", _tier_event(STACKS_WALLET, "mm")) is None
    )
    assert await second_store.wallet_tiers() == {STACKS_WALLET: "mm"}
    cursor, changed = await second_store.changes_since(cursor)
    assert [changed_wallet(entry) for entry in changed] == [STACKS_WALLET]

    # The same tier again changes nothing and records nothing.
    assert (
        await store.set_wallet_tier(STACKS_WALLET, "mm", _tier_event(STACKS_WALLET, "mm")) == "mm"
    )
    assert (await second_store.changes_since(cursor))[1] == []
    assert (
        await store.set_wallet_tier(STACKS_WALLET, None, _tier_event(STACKS_WALLET, None)) == "mm"
    )
    assert await second_store.wallet_tiers() == {}
    events = await store.list_events(wallet=STACKS_WALLET)
    assert [(e.kind, e.key_id) for e in events] == [(EventKind.LIMITS_CHANGED, "")] * 2


async def test_top_keys_rank_by_what_is_asked_within_the_window(store: KeyStore):
    busy, failing, old = make_key(), make_key(), make_key()
    for key in (busy, failing, old):
        await store.insert(key)
    hour = hour_of(utcnow())
    await store.add_usage(
        {},
        {
            (busy.id, hour): HourlyUsage(hour, success=9),
            (failing.id, hour): HourlyUsage(hour, success=1, rate_limited=3, server_error=1),
            (old.id, hour - timedelta(hours=5)): HourlyUsage(hour, success=50),
        },
    )
    by_requests = await store.top_keys(hour, TopBy.REQUESTS, 10)
    assert [(t.key.id, t.requests) for t in by_requests] == [(busy.id, 9), (failing.id, 5)]
    by_failed = await store.top_keys(hour, TopBy.FAILED, 10)
    assert [(t.key.id, t.failed, t.rate_limited) for t in by_failed] == [(failing.id, 4, 3)]
    assert [
        t.key.id for t in await store.top_keys(hour - timedelta(hours=6), TopBy.REQUESTS, 1)
    ] == [old.id]
    assert dataclasses.asdict(by_requests[0])["key"]["id"] == busy.id
