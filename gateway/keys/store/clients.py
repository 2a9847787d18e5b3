"""Schema version 3 (client addresses per key, the rate-limited counter) and the
`new_ip` decision both backends make at flush time, inside the flush's
transaction, while holding the store's write lock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from gateway.keys.audit import EventKind, KeyEvent, Origin, key_actor, new_event
from gateway.keys.clients import (
    KEPT_CLIENT_IPS,
    NEW_IP_AFTER,
    SHOWN_CLIENT_IPS,
    ClientIp,
    ClientKey,
    combine,
    is_new_run,
)
from gateway.keys.store.base import Row, StoreError

CLIENT_COLUMNS: Final = ("key_id", "ip", "first_seen", "last_seen", "requests")


def schema_v3(*, time_type: str, counter_type: str) -> tuple[str, ...]:
    return (
        f"ALTER TABLE api_keys ADD COLUMN rate_limited_requests {counter_type} NOT NULL DEFAULT 0",
        f"""CREATE TABLE key_client_ips (
            key_id TEXT NOT NULL,
            ip TEXT NOT NULL,
            first_seen {time_type} NOT NULL,
            last_seen {time_type} NOT NULL,
            requests {counter_type} NOT NULL,
            PRIMARY KEY (key_id, ip)
        )""",
        "CREATE INDEX key_client_ips_recent ON key_client_ips (key_id, last_seen)",
    )


def client_from_row(row: Row, decode_time: Any) -> ClientIp:
    first, last = decode_time(row["first_seen"]), decode_time(row["last_seen"])
    if first is None or last is None:
        raise StoreError(f"client address of key {row['key_id']} has no time")
    return ClientIp(row["ip"], first, last, int(row["requests"]))


def recent_clients_query(marks: str, limit_mark: str) -> str:
    """Each key's most recent addresses (window functions: SQLite 3.25+, PostgreSQL)."""
    return f"""
        SELECT key_id, ip, first_seen, last_seen, requests FROM (
            SELECT key_id, ip, first_seen, last_seen, requests, ROW_NUMBER() OVER (
                PARTITION BY key_id ORDER BY last_seen DESC, ip DESC) AS position
            FROM key_client_ips WHERE key_id IN ({marks})
        ) ranked WHERE position <= {limit_mark} ORDER BY key_id, position"""


def prune_query(mark: str, cutoff_mark: str, shown_mark: str, kept_mark: str) -> str:
    """One key's addresses that are neither recent (30 days) nor among its last 20,
    and any beyond the hard cap."""
    newest = f"SELECT ip FROM key_client_ips WHERE key_id = {mark} ORDER BY last_seen DESC, ip DESC"
    return f"""
        DELETE FROM key_client_ips WHERE key_id = {mark}
          AND ip NOT IN ({newest} LIMIT {shown_mark})
          AND (last_seen < {cutoff_mark} OR ip NOT IN ({newest} LIMIT {kept_mark}))"""


PRUNE_LIMITS: Final = (SHOWN_CLIENT_IPS, KEPT_CLIENT_IPS)


def plan_clients(
    batch: Mapping[ClientKey, ClientIp],
    known: Mapping[ClientKey, ClientIp],
    wallets: Mapping[str, str],
) -> tuple[list[tuple[str, ClientIp]], list[KeyEvent]]:
    """The rows to write (absolute values) and one `new_ip` event per address
    that starts a new run; keys the store does not know are left out."""
    rows: list[tuple[str, ClientIp]] = []
    events: list[KeyEvent] = []
    for (key_id, ip), seen in sorted(batch.items()):
        wallet = wallets.get(key_id)
        if wallet is None:
            continue
        before = known.get((key_id, ip))
        rows.append((key_id, combine(before, seen)))
        if is_new_run(before, seen):
            details = {"lastSeen": None if before is None else before.last_seen.isoformat()}
            origin = Origin(key_actor(key_id), ip)
            events.append(
                new_event(EventKind.NEW_IP, key_id, seen.first_seen, origin, details, wallet)
            )
    return rows, events


def grown_keys(batch: Iterable[ClientKey], known: Mapping[ClientKey, ClientIp]) -> list[str]:
    """Keys that gained an address in this batch: only they can need pruning.

    A key used again from the addresses it has adds no row, so a flush of a
    busy gateway's steady traffic prunes nothing (a delete per key per flush
    cost more than the rest of the flush).
    """
    return sorted({key_id for key_id, ip in batch if (key_id, ip) not in known})


def prune_cutoff(batch: Iterable[ClientIp]) -> datetime:
    return max(c.last_seen for c in batch) - NEW_IP_AFTER
