"""Schema version 2 (the audit trail and hourly usage) and its row codec, shared
by both backends like version 1 in `base`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from gateway.keys.audit import SYSTEM_ACTOR, EventKind, KeyEvent
from gateway.keys.history import OUTCOMES, HourlyUsage
from gateway.keys.store.base import Row, StoreError

EVENT_COLUMNS: Final = ("seq", "at", "key_id", "wallet", "kind", "actor", "client_ip", "details")
EVENT_INSERT_COLUMNS: Final = EVENT_COLUMNS[1:]
HOURLY_COLUMNS: Final = ("key_id", "hour", *(o.value for o in OUTCOMES))
MAX_EVENT_PAGE: Final = 1000


def schema_v2(*, time_type: str, counter_type: str, serial_key: str) -> tuple[str, ...]:
    counters = ", ".join(f"{o.value} {counter_type} NOT NULL DEFAULT 0" for o in OUTCOMES)
    return (
        f"""CREATE TABLE key_events (
            seq {serial_key},
            at {time_type} NOT NULL,
            key_id TEXT NOT NULL,
            wallet TEXT NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            client_ip TEXT,
            details TEXT NOT NULL
        )""",
        "CREATE INDEX key_events_key ON key_events (key_id, seq)",
        "CREATE INDEX key_events_wallet ON key_events (wallet, seq)",
        "CREATE INDEX key_events_at ON key_events (at)",
        f"""CREATE TABLE key_usage_hourly (
            key_id TEXT NOT NULL,
            hour {time_type} NOT NULL,
            {counters},
            PRIMARY KEY (key_id, hour)
        )""",
        "CREATE INDEX key_usage_hourly_hour ON key_usage_hourly (hour)",
        # The expiry sweep looks only at keys that have an expiry.
        "CREATE INDEX api_keys_expires_at ON api_keys (expires_at)",
    )


def event_values(event: KeyEvent, encode_time: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The event as a row, in EVENT_INSERT_COLUMNS order."""
    if not event.wallet:
        raise StoreError(f"event {event.kind} of key {event.key_id} has no wallet")
    return (
        encode_time(event.at),
        event.key_id,
        event.wallet,
        event.kind.value,
        event.actor,
        event.client_ip,
        json.dumps(dict(event.details), sort_keys=True),
    )


def event_from_row(row: Row, decode_time: Callable[[Any], datetime | None]) -> KeyEvent:
    at = decode_time(row["at"])
    if at is None:
        raise StoreError(f"event {row['seq']} has no time")
    return KeyEvent(
        kind=EventKind(row["kind"]),
        key_id=row["key_id"],
        at=at,
        actor=row["actor"],
        client_ip=row["client_ip"],
        wallet=row["wallet"],
        details=MappingProxyType(json.loads(row["details"])),
        seq=int(row["seq"]),
    )


def hourly_from_row(row: Row, decode_time: Callable[[Any], datetime | None]) -> HourlyUsage:
    hour = decode_time(row["hour"])
    if hour is None:
        raise StoreError(f"usage hour of key {row['key_id']} has no time")
    return HourlyUsage(hour, *(int(row[o.value]) for o in OUTCOMES))


def expired_event_select(placeholder_now: str) -> str:
    """Keys past their expiry that have no `expired` event yet, as event rows."""
    return f"""
        SELECT expires_at, id, wallet, '{EventKind.EXPIRED.value}', '{SYSTEM_ACTOR}', NULL, '{{}}'
        FROM api_keys k
        WHERE expires_at IS NOT NULL AND expires_at <= {placeholder_now} AND status <> 'revoked'
          AND NOT EXISTS (
              SELECT 1 FROM key_events e
              WHERE e.key_id = k.id AND e.kind = '{EventKind.EXPIRED.value}'
          )"""
