"""The SQLite store's reads across many keys: the audit trail, usage history,
status counts and the change log; and the time codec both halves share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Final

import aiosqlite

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


def encode_time(moment: datetime | None) -> str | None:
    """Fixed-width ISO 8601 in UTC: sorts as text and round-trips exactly."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def moment_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def decode_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


EFFECTIVE_STATUS: Final = (
    "CASE WHEN status = 'revoked' OR (revoke_at IS NOT NULL AND revoke_at <= :now) "
    "THEN 'revoked' ELSE status END"
)


# What the per-wallet cap counts: active, unexpired, not scheduled for revocation.
_COUNT_ACTIVE: Final = """
    SELECT COUNT(*) FROM api_keys
    WHERE wallet = ? AND status = 'active' AND revoke_at IS NULL
      AND (expires_at IS NULL OR expires_at > ?)"""


class SQLiteTrail(ABC):
    """Mixed into SQLiteKeyStore, which provides `_session`."""

    @abstractmethod
    def _session(
        self, what: str, *, write: bool = False
    ) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """The store's connection for `what` (in a write transaction when asked)."""

    async def hourly_usage(
        self, key_ids: Sequence[str], since: datetime
    ) -> dict[str, list[HourlyUsage]]:
        if not key_ids:
            return {}
        marks = ", ".join("?" for _ in key_ids)
        query = (
            f"SELECT {', '.join(HOURLY_COLUMNS)} FROM key_usage_hourly "
            f"WHERE key_id IN ({marks}) AND hour >= ? ORDER BY key_id, hour"
        )
        async with self._session("hourly_usage") as db:
            rows = await db.execute_fetchall(query, (*key_ids, moment_text(since)))
        result: dict[str, list[HourlyUsage]] = {}
        for row in rows:
            result.setdefault(row["key_id"], []).append(hourly_from_row(row, decode_time))
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
        clauses, params = ["1 = 1"], []
        for clause, value in (
            ("key_id = ?", key_id),
            ("wallet = ?", wallet),
            ("at >= ?", None if since is None else moment_text(since)),
            ("seq < ?", before_seq),
            ("kind = ?", None if kind is None else kind.value),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        query = (
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM key_events WHERE {' AND '.join(clauses)} "
            "ORDER BY seq DESC LIMIT ?"
        )
        async with self._session("list_events") as db:
            rows = await db.execute_fetchall(query, (*params, limit))
        return [event_from_row(row, decode_time) for row in rows]

    async def record_expiries(self, now: datetime) -> list[KeyEvent]:
        statement = (
            f"INSERT INTO key_events ({', '.join(EVENT_INSERT_COLUMNS)}) "
            f"{expired_event_select('?')} RETURNING {', '.join(EVENT_COLUMNS)}"
        )
        async with self._session("record_expiries", write=True) as db:
            rows = await db.execute_fetchall(statement, (moment_text(now),))
        return [event_from_row(row, decode_time) for row in rows]

    async def count_by_status(self) -> dict[KeyStatus, int]:
        query = f"SELECT {EFFECTIVE_STATUS} AS s, COUNT(*) FROM api_keys GROUP BY s"
        async with self._session("count_by_status") as db:
            rows = await db.execute_fetchall(query, {"now": encode_time(datetime.now(UTC))})
        return status_counts(rows)

    async def count_active(self, wallet: str, now: datetime) -> int:
        async with self._session("count_active") as db:
            # Read whole: a statement left unfinished would hold a read
            # transaction open, and the next BEGIN IMMEDIATE would fail.
            rows = list(await db.execute_fetchall(_COUNT_ACTIVE, (wallet, encode_time(now))))
        return int(rows[0][0])

    # -- change log --------------------------------------------------------------

    async def change_cursor(self) -> int:
        async with self._session("change_cursor") as db:
            rows = list(await db.execute_fetchall("SELECT COALESCE(MAX(seq), 0) FROM key_changes"))
        return int(rows[0][0])

    async def changes_since(self, cursor: int) -> tuple[int, list[str]]:
        async with self._session("changes_since") as db:
            rows = await db.execute_fetchall(
                "SELECT seq, key_hash FROM key_changes WHERE seq > ? ORDER BY seq", (cursor,)
            )
        return changes_from_rows(cursor, rows)
