"""Where keys live: one protocol, a backend per URL scheme (like `limits.storage`).

Both backends keep the same schema and the same row codec (below), so a record
round-trips identically through either, and one behaviour suite covers both.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, runtime_checkable

from gateway.keys.audit import KeyEvent
from gateway.keys.clients import ClientIp, ClientKey
from gateway.keys.history import HourKey, HourlyUsage
from gateway.keys.model import (
    COUNTER_FIELDS,
    V1_COUNTER_FIELDS,
    ApiKey,
    Dialect,
    KeyStatus,
    Permission,
    UsageDelta,
    UsageStats,
)


class Row(Protocol):
    """What both drivers' rows offer: sqlite3.Row and asyncpg.Record."""

    def __getitem__(self, key: str, /) -> Any: ...


class StoreError(Exception):
    """The store failed or is unreachable; every driver error is wrapped in this."""


# Change events outlive any poller's interval by far, then they are pruned.
CHANGE_RETENTION: Final = timedelta(minutes=5)

KEY_COLUMNS: Final = (
    "id",
    "key_hash",
    "key_hint",
    "wallet",
    "wallet_display",
    "chain",
    "dialect",
    "name",
    "permissions",
    "status",
    "rate_limit",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoke_at",
    "ip_allowlist",
    *COUNTER_FIELDS,
)


@runtime_checkable
class KeyStore(Protocol):
    # Operations asked of the store so far, by name ("get_by_hash", "insert", ...):
    # how often the request path reaches the store, observable without a profiler.
    operations: Counter[str]

    async def open(self) -> None:
        """Connect and create or migrate the schema."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreError when the store is unreachable."""

    async def insert(
        self, key: ApiKey, *, exclusive: bool = False, event: KeyEvent | None = None
    ) -> bool:
        """Commit the key (and its event) durably. With `exclusive`, refuse (False)
        if the wallet already has another usable key of the same dialect, atomically."""

    async def get(self, key_id: str) -> ApiKey | None: ...

    async def get_by_hash(self, key_hash: str) -> ApiKey | None: ...

    async def list_keys(
        self, *, wallet: str | None = None, status: KeyStatus | None = None, limit: int = 1000
    ) -> list[ApiKey]:
        """Newest first; `status` filters on the effective status."""

    async def set_status(
        self, key_id: str, status: KeyStatus, *, event: KeyEvent | None = None
    ) -> ApiKey | None:
        """None for an unknown id; a revoked key stays revoked and is returned unchanged.
        `event` (its wallet filled from the row) is stored only when the status changed."""

    async def schedule_revocation(
        self, key_id: str, at: datetime, *, event: KeyEvent | None = None
    ) -> ApiKey | None:
        """Set revoke_at, keeping the earliest moment already scheduled; `event` is
        stored only when revoke_at changed."""

    async def add_usage(
        self,
        deltas: Mapping[str, UsageDelta],
        hourly: Mapping[HourKey, HourlyUsage] | None = None,
        *,
        keep_since: datetime | None = None,
        clients: Mapping[ClientKey, ClientIp] | None = None,
    ) -> list[KeyEvent]:
        """Add each key's delta, hourly counts and client addresses in one transaction;
        last_used_at only moves forward; hours before `keep_since` are deleted.
        Returns the `new_ip` events stored: one per address a key had not used in
        the last 30 days, decided under the store's write lock."""

    async def client_ips(self, key_ids: Sequence[str]) -> dict[str, list[ClientIp]]:
        """Each key's most recent client addresses (20), most recent first."""

    async def hourly_usage(
        self, key_ids: Sequence[str], since: datetime
    ) -> dict[str, list[HourlyUsage]]:
        """Stored hours from `since` on, oldest first, for each key that has any."""

    async def list_events(
        self,
        *,
        key_id: str | None = None,
        wallet: str | None = None,
        since: datetime | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[KeyEvent]:
        """Events newest first; `before_seq` continues a page."""

    async def record_expiries(self, now: datetime) -> list[KeyEvent]:
        """Store one `expired` event for each key past its expiry that has none; return them."""

    async def count_by_status(self) -> dict[KeyStatus, int]:
        """Keys per effective status, every status present."""

    async def count_active(self, wallet: str, now: datetime) -> int:
        """The wallet's keys that are active at `now`, not expired and not
        scheduled for revocation (what the per-wallet cap counts)."""

    async def change_cursor(self) -> int:
        """The current position of the change log."""

    async def changes_since(self, cursor: int) -> tuple[int, list[str]]:
        """The new cursor and the hashes of keys whose status or revoke_at changed."""


# -- the schema shared by the backends -----------------------------------------


def schema_v1(*, time_type: str, counter_type: str, serial_key: str) -> tuple[str, ...]:
    """Version 1 of the schema in a backend's column types.

    `serial_key` must never reuse a number, even after pruning, so a reader's
    change cursor never points past newer events.
    """
    counters = ", ".join(f"{n} {counter_type} NOT NULL DEFAULT 0" for n in V1_COUNTER_FIELDS)
    return (
        f"""CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            key_hash TEXT NOT NULL,
            key_hint TEXT NOT NULL,
            wallet TEXT NOT NULL,
            wallet_display TEXT NOT NULL,
            chain TEXT NOT NULL,
            dialect TEXT NOT NULL,
            name TEXT NOT NULL,
            permissions TEXT NOT NULL,
            status TEXT NOT NULL,
            rate_limit INTEGER NOT NULL,
            created_at {time_type} NOT NULL,
            last_used_at {time_type},
            expires_at {time_type},
            revoke_at {time_type},
            ip_allowlist TEXT NOT NULL,
            {counters}
        )""",
        "CREATE UNIQUE INDEX api_keys_key_hash ON api_keys (key_hash)",
        "CREATE INDEX api_keys_wallet ON api_keys (wallet, dialect, created_at)",
        "CREATE INDEX api_keys_created_at ON api_keys (created_at)",
        f"""CREATE TABLE key_changes (
            seq {serial_key},
            key_hash TEXT NOT NULL,
            changed_at {time_type} NOT NULL
        )""",
        "CREATE INDEX key_changes_changed_at ON key_changes (changed_at)",
    )


# -- the row codec shared by the backends -------------------------------------


def encode_permissions(permissions: frozenset[Permission]) -> str:
    return ",".join(sorted(p.value for p in permissions))


def decode_permissions(text: str) -> frozenset[Permission]:
    return frozenset(Permission(p) for p in text.split(",") if p)


def key_values(key: ApiKey, encode_time: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    """The key as a row, in KEY_COLUMNS order."""
    return (
        key.id,
        key.key_hash,
        key.key_hint,
        key.wallet,
        key.wallet_display,
        key.chain,
        key.dialect.value,
        key.name,
        encode_permissions(key.permissions),
        key.status.value,
        key.rate_limit,
        encode_time(key.created_at),
        encode_time(key.last_used_at),
        encode_time(key.expires_at),
        encode_time(key.revoke_at),
        json.dumps(list(key.ip_allowlist)),
        *(getattr(key.usage, n) for n in COUNTER_FIELDS),
    )


def key_from_row(row: Row, decode_time: Callable[[Any], datetime | None]) -> ApiKey:
    created_at = decode_time(row["created_at"])
    if created_at is None:
        raise StoreError(f"key {row['id']} has no created_at")
    return ApiKey(
        id=row["id"],
        key_hash=row["key_hash"],
        key_hint=row["key_hint"],
        wallet=row["wallet"],
        wallet_display=row["wallet_display"],
        chain=row["chain"],
        dialect=Dialect(row["dialect"]),
        name=row["name"],
        permissions=decode_permissions(row["permissions"]),
        status=KeyStatus(row["status"]),
        rate_limit=row["rate_limit"],
        created_at=created_at,
        last_used_at=decode_time(row["last_used_at"]),
        expires_at=decode_time(row["expires_at"]),
        revoke_at=decode_time(row["revoke_at"]),
        ip_allowlist=tuple(json.loads(row["ip_allowlist"])),
        usage=UsageStats(*(row[n] for n in COUNTER_FIELDS)),
    )


def status_counts(rows: Any) -> dict[KeyStatus, int]:
    """(status, count) rows as a count for every status, absent ones at 0."""
    counts = dict.fromkeys(KeyStatus, 0)
    counts.update({KeyStatus(row[0]): row[1] for row in rows})
    return counts


def changes_from_rows(cursor: int, rows: Any) -> tuple[int, list[str]]:
    """(seq, key_hash) rows in seq order as (new cursor, distinct changed hashes)."""
    if not rows:
        return cursor, []
    return int(rows[-1][0]), list(dict.fromkeys(row[1] for row in rows))


def usage_values(delta: UsageDelta) -> tuple[int, ...]:
    return tuple(getattr(delta, n) for n in COUNTER_FIELDS)
