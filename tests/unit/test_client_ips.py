"""Client addresses counted in memory: merged runs, restores, the 30-day rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.keys.clients import (
    NEW_IP_AFTER,
    ClientIp,
    ClientIpCounter,
    combine,
    is_new_run,
    merge_clients,
)

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


def test_counter_counts_per_key_and_address_and_restores_a_failed_batch() -> None:
    counter = ClientIpCounter()
    counter.add("key_a", "203.0.113.7", T0)
    counter.add("key_a", "203.0.113.7", T0 + timedelta(seconds=5))
    counter.add("key_b", "203.0.113.7", T0)
    assert counter.pending("key_a") == [ClientIp("203.0.113.7", T0, T0 + timedelta(seconds=5), 2)]
    batch = counter.take()
    assert len(counter) == 0 and len(batch) == 2
    counter.add("key_a", "203.0.113.7", T0 + timedelta(seconds=9))
    counter.restore(batch)  # the flush failed: nothing is lost
    assert counter.pending("key_a") == [ClientIp("203.0.113.7", T0, T0 + timedelta(seconds=9), 3)]
    assert counter.pending("key_b") == [ClientIp("203.0.113.7", T0, T0, 1)]


def test_an_address_is_new_again_after_thirty_idle_days() -> None:
    known = ClientIp("198.51.100.4", T0, T0, 4)
    just_within = ClientIp("198.51.100.4", T0 + NEW_IP_AFTER, T0 + NEW_IP_AFTER, 1)
    past = ClientIp(
        "198.51.100.4", T0 + NEW_IP_AFTER + timedelta(seconds=1), T0 + NEW_IP_AFTER * 2, 1
    )
    assert is_new_run(None, known)
    assert not is_new_run(known, just_within)
    assert combine(known, just_within) == ClientIp("198.51.100.4", T0, T0 + NEW_IP_AFTER, 5)
    assert is_new_run(known, past)
    assert combine(known, past) == past


def test_shown_addresses_are_the_twenty_most_recent_with_pending_counts() -> None:
    stored = [ClientIp(f"10.0.0.{i}", T0, T0 + timedelta(minutes=i), 1) for i in range(25)]
    pending = [ClientIp("10.0.0.0", T0 + timedelta(hours=1), T0 + timedelta(hours=1), 2)]
    shown = merge_clients(stored, pending)
    assert len(shown) == 20
    assert shown[0] == ClientIp("10.0.0.0", T0, T0 + timedelta(hours=1), 3)
    assert [c.ip for c in shown[1:4]] == ["10.0.0.24", "10.0.0.23", "10.0.0.22"]
