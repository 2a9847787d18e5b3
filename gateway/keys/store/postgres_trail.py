"""The PostgreSQL store's reads across many keys: the audit trail, usage history,
status counts and the change log (schema version 2 and the change log of 1)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from gateway.keys.audit import EventKind, KeyEvent
from gateway.keys.history import HourlyUsage
from gateway.keys.model import KeyStatus
from gateway.keys.store.base import changes_from_rows, status_counts
from gateway.keys.store.events import (
    EVENT_COLUMNS,
    EVENT_INSERT_COLUMNS,
    HOURLY_COLUMNS,
    event_from_row,
    expired_event_select,
    hourly_from_row,
)

# Advisory lock space ("WG"), split by purpose so the locks never collide.
LOCK_GLOBAL: Final = 0x5747_0000
# Taken before drawing a change-log sequence number, so sequence order is commit order.
OBJ_CHANGES: Final = 1
_OBJ_EXPIRIES: Final = 2
# What the per-wallet cap counts: active, unexpired, not scheduled for revocation.
_COUNT_ACTIVE: Final = """
    SELECT COUNT(*) FROM api_keys
    WHERE wallet = $1 AND status = 'active' AND revoke_at IS NULL
      AND (expires_at IS NULL OR expires_at > $2)"""


def effective_status(now_param: str) -> str:
    return (
        f"CASE WHEN status = 'revoked' OR (revoke_at IS NOT NULL AND revoke_at <= {now_param}) "
        "THEN 'revoked' ELSE status END"
    )


def decode_moment(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


class PostgresTrail(ABC):
    """Mixed into PostgresKeyStore, which provides `_connection`."""

    @abstractmethod
    def _connection(
        self, what: str, *, transaction: bool = False
    ) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A pooled connection for `what` (in a transaction when asked)."""

    async def hourly_usage(
        self, key_ids: Sequence[str], since: datetime
    ) -> dict[str, list[HourlyUsage]]:
        if not key_ids:
            return {}
        query = (
            f"SELECT {', '.join(HOURLY_COLUMNS)} FROM key_usage_hourly "
            "WHERE key_id = ANY($1::text[]) AND hour >= $2 ORDER BY key_id, hour"
        )
        async with self._connection("hourly_usage") as conn:
            rows = await conn.fetch(query, list(key_ids), since)
        result: dict[str, list[HourlyUsage]] = {}
        for row in rows:
            result.setdefault(row["key_id"], []).append(hourly_from_row(row, decode_moment))
        return result

    async def list_events(
        self,
        *,
        key_id: str | None = None,
        wallet: str | None = None,
        since: datetime | None = None,
        before_seq: int | None = None,
        limit: int = 100,
        kind: EventKind | None = None,
    ) -> list[KeyEvent]:
        clauses: list[str] = []
        params: list[Any] = [limit]
        for column, op, value in (
            ("key_id", "=", key_id),
            ("wallet", "=", wallet),
            ("at", ">=", since),
            ("seq", "<", before_seq),
            ("kind", "=", None if kind is None else kind.value),
        ):
            if value is not None:
                params.append(value)
                clauses.append(f"{column} {op} ${len(params)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = (
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM key_events {where} ORDER BY seq DESC LIMIT $1"
        )
        async with self._connection("list_events") as conn:
            rows = await conn.fetch(query, *params)
        return [event_from_row(row, decode_moment) for row in rows]

    async def record_expiries(self, now: datetime) -> list[KeyEvent]:
        statement = (
            f"INSERT INTO key_events ({', '.join(EVENT_INSERT_COLUMNS)}) "
            f"{expired_event_select('$1')} RETURNING {', '.join(EVENT_COLUMNS)}"
        )
        async with self._connection("record_expiries", transaction=True) as conn:
            # Instances sweeping together must not both record one expiry.
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_GLOBAL, _OBJ_EXPIRIES)
            rows = await conn.fetch(statement, now)
        return [event_from_row(row, decode_moment) for row in rows]

    async def count_by_status(self) -> dict[KeyStatus, int]:
        query = f"SELECT {effective_status('$1')} AS s, COUNT(*) FROM api_keys GROUP BY s"
        async with self._connection("count_by_status") as conn:
            rows = await conn.fetch(query, datetime.now(UTC))
        return status_counts(rows)

    async def count_active(self, wallet: str, now: datetime) -> int:
        async with self._connection("count_active") as conn:
            return int(await conn.fetchval(_COUNT_ACTIVE, wallet, now))

    # -- change log --------------------------------------------------------------

    async def change_cursor(self) -> int:
        async with self._connection("change_cursor") as conn:
            return int(await conn.fetchval("SELECT COALESCE(MAX(seq), 0) FROM key_changes"))

    async def changes_since(self, cursor: int) -> tuple[int, list[str]]:
        async with self._connection("changes_since") as conn:
            rows = await conn.fetch(
                "SELECT seq, key_hash FROM key_changes WHERE seq > $1 ORDER BY seq", cursor
            )
        return changes_from_rows(cursor, rows)
