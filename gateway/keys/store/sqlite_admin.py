"""The SQLite store's operator queries (`admin_base.AdminQueries`): key pages
across wallets, limit changes, wallet tiers and the busiest keys."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Final

import aiosqlite

from gateway.keys.audit import KeyEvent
from gateway.keys.model import ApiKey, KeyStatus
from gateway.keys.store.admin_base import KeyTotals, PageMark, TopBy, top_query, wallet_change
from gateway.keys.store.base import CHANGE_RETENTION, KEY_COLUMNS, key_from_row
from gateway.keys.store.events import EVENT_INSERT_COLUMNS, event_values
from gateway.keys.store.sqlite_trail import EFFECTIVE_STATUS, decode_time, encode_time, moment_text

_COLUMNS: Final = ", ".join(KEY_COLUMNS)
_INSERT_EVENT: Final = (
    f"INSERT INTO key_events ({', '.join(EVENT_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_INSERT_COLUMNS)})"
)
_UPDATE_LIMITS: Final = """
    UPDATE api_keys SET rate_limit = COALESCE(?, rate_limit),
        expires_at = CASE WHEN ? THEN ? ELSE expires_at END
    WHERE id = ? AND status <> 'revoked'"""


class SQLiteAdmin(ABC):
    """Mixed into SQLiteKeyStore, which provides `_session` and `_change`."""

    @abstractmethod
    def _session(
        self, what: str, *, write: bool = False
    ) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """The store's connection for `what` (in a write transaction when asked)."""

    @abstractmethod
    async def _change(
        self,
        what: str,
        key_id: str,
        update: str,
        params: tuple[object, ...],
        event: KeyEvent | None,
    ) -> ApiKey | None:
        """Apply an update with its event and change-log entry (see SQLiteKeyStore)."""

    async def list_keys_page(
        self,
        *,
        wallet: str | None = None,
        status: KeyStatus | None = None,
        after: PageMark | None = None,
        limit: int = 100,
    ) -> list[ApiKey]:
        clauses = ["1 = 1"]
        params: dict[str, Any] = {"now": encode_time(datetime.now(UTC)), "limit": limit}
        if wallet is not None:
            clauses.append("wallet = :wallet")
            params["wallet"] = wallet
        if status is not None:
            clauses.append(f"{EFFECTIVE_STATUS} = :status")
            params["status"] = KeyStatus(status).value
        if after is not None:
            clauses.append("(created_at < :at OR (created_at = :at AND id < :id))")
            params |= {"at": encode_time(after[0]), "id": after[1]}
        query = (
            f"SELECT {_COLUMNS} FROM api_keys WHERE {' AND '.join(clauses)} "
            "ORDER BY created_at DESC, id DESC LIMIT :limit"
        )
        async with self._session("list_keys_page") as db:
            rows = await db.execute_fetchall(query, params)
        return [key_from_row(row, decode_time) for row in rows]

    async def update_limits(
        self,
        key_id: str,
        *,
        rate_limit: int | None,
        expires_at: datetime | None,
        clear_expiry: bool,
        event: KeyEvent,
    ) -> ApiKey | None:
        set_expiry = clear_expiry or expires_at is not None
        params = (rate_limit, set_expiry, encode_time(expires_at), key_id)
        key = await self._change("update_limits", key_id, _UPDATE_LIMITS, params, event)
        return None if key is None or key.status == KeyStatus.REVOKED else key

    async def wallet_tiers(self) -> dict[str, str]:
        async with self._session("wallet_tiers") as db:
            rows = await db.execute_fetchall("SELECT wallet, tier FROM wallet_tiers")
        return {row[0]: row[1] for row in rows}

    async def set_wallet_tier(self, wallet: str, tier: str | None, event: KeyEvent) -> str | None:
        now = datetime.now(UTC)
        async with self._session("set_wallet_tier", write=True) as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT tier FROM wallet_tiers WHERE wallet = ?", (wallet,)
                )
            )
            previous = rows[0][0] if rows else None
            if previous == tier:
                return previous
            if tier is None:
                await db.execute("DELETE FROM wallet_tiers WHERE wallet = ?", (wallet,))
            else:
                await db.execute(
                    "INSERT INTO wallet_tiers (wallet, tier, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (wallet) DO UPDATE SET tier = excluded.tier, "
                    "updated_at = excluded.updated_at",
                    (wallet, tier, encode_time(now)),
                )
            await db.execute(_INSERT_EVENT, event_values(event.for_wallet(wallet), moment_text))
            await db.execute(
                "INSERT INTO key_changes (key_hash, changed_at) VALUES (?, ?)",
                (wallet_change(wallet), encode_time(now)),
            )
            await db.execute(
                "DELETE FROM key_changes WHERE changed_at < ?",
                (encode_time(now - CHANGE_RETENTION),),
            )
        return previous

    async def top_keys(self, since: datetime, by: TopBy, limit: int) -> list[KeyTotals]:
        query = top_query(by, ("?", "?"), _COLUMNS)
        async with self._session("top_keys") as db:
            rows = await db.execute_fetchall(query, (moment_text(since), limit))
        return [
            KeyTotals(
                key_from_row(row, decode_time),
                int(row["requests"]),
                int(row["rate_limited_total"]),
                int(row["failed"]),
            )
            for row in rows
        ]
