"""The PostgreSQL store's operator queries (`admin_base.AdminQueries`): key pages
across wallets, limit changes, wallet tiers and the busiest keys."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from gateway.keys.audit import KeyEvent
from gateway.keys.model import ApiKey, KeyStatus
from gateway.keys.store.admin_base import KeyTotals, PageMark, TopBy, top_query, wallet_change
from gateway.keys.store.base import CHANGE_RETENTION, KEY_COLUMNS, key_from_row
from gateway.keys.store.events import EVENT_INSERT_COLUMNS, event_values
from gateway.keys.store.postgres_trail import (
    LOCK_GLOBAL,
    OBJ_CHANGES,
    decode_moment,
    effective_status,
)

_COLUMNS: Final = ", ".join(KEY_COLUMNS)
_INSERT_EVENT: Final = (
    f"INSERT INTO key_events ({', '.join(EVENT_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(EVENT_INSERT_COLUMNS) + 1))})"
)
# $1 is the key id (PostgresKeyStore._change passes it first).
_UPDATE_LIMITS: Final = """
    UPDATE api_keys SET rate_limit = COALESCE($2::integer, rate_limit),
        expires_at = CASE WHEN $3::boolean THEN $4::timestamptz ELSE expires_at END
    WHERE id = $1 AND status <> 'revoked'"""


def _same(moment: datetime) -> datetime:
    return moment


class PostgresAdmin(ABC):
    """Mixed into PostgresKeyStore, which provides `_connection` and `_change`."""

    @abstractmethod
    def _connection(
        self, what: str, *, transaction: bool = False
    ) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A pooled connection for `what` (in a transaction when asked)."""

    @abstractmethod
    async def _change(
        self, what: str, key_id: str, update: str, values: tuple[Any, ...], event: KeyEvent | None
    ) -> ApiKey | None:
        """Apply an update with its event and change-log entry (see PostgresKeyStore)."""

    async def list_keys_page(
        self,
        *,
        wallet: str | None = None,
        status: KeyStatus | None = None,
        after: PageMark | None = None,
        limit: int = 100,
    ) -> list[ApiKey]:
        clauses: list[str] = []
        params: list[Any] = [limit]
        if wallet is not None:
            params.append(wallet)
            clauses.append(f"wallet = ${len(params)}")
        if status is not None:
            params.extend((datetime.now(UTC), KeyStatus(status).value))
            clauses.append(f"{effective_status(f'${len(params) - 1}')} = ${len(params)}")
        if after is not None:
            params.extend(after)
            at, key_id = f"${len(params) - 1}", f"${len(params)}"
            clauses.append(f"(created_at < {at} OR (created_at = {at} AND id < {key_id}))")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = (
            f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at DESC, id DESC LIMIT $1"
        )
        async with self._connection("list_keys_page") as conn:
            rows = await conn.fetch(query, *params)
        return [key_from_row(row, decode_moment) for row in rows]

    async def update_limits(
        self,
        key_id: str,
        *,
        rate_limit: int | None,
        expires_at: datetime | None,
        clear_expiry: bool,
        event: KeyEvent,
    ) -> ApiKey | None:
        values = (rate_limit, clear_expiry or expires_at is not None, expires_at)
        key = await self._change("update_limits", key_id, _UPDATE_LIMITS, values, event)
        return None if key is None or key.status == KeyStatus.REVOKED else key

    async def wallet_tiers(self) -> dict[str, str]:
        async with self._connection("wallet_tiers") as conn:
            rows = await conn.fetch("SELECT wallet, tier FROM wallet_tiers")
        return {row["wallet"]: row["tier"] for row in rows}

    async def set_wallet_tier(self, wallet: str, tier: str | None, event: KeyEvent) -> str | None:
        now = datetime.now(UTC)
        async with self._connection("set_wallet_tier", transaction=True) as conn:
            # The row lock orders concurrent changes of one wallet's tier.
            previous = await conn.fetchval(
                "SELECT tier FROM wallet_tiers WHERE wallet = $1 FOR UPDATE", wallet
            )
            if previous == tier:
                return previous  # type: ignore[no-any-return]
            if tier is None:
                await conn.execute("DELETE FROM wallet_tiers WHERE wallet = $1", wallet)
            else:
                await conn.execute(
                    "INSERT INTO wallet_tiers (wallet, tier, updated_at) VALUES ($1, $2, $3) "
                    "ON CONFLICT (wallet) DO UPDATE SET tier = excluded.tier, "
                    "updated_at = excluded.updated_at",
                    wallet,
                    tier,
                    now,
                )
            await conn.execute(_INSERT_EVENT, *event_values(event.for_wallet(wallet), _same))
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_GLOBAL, OBJ_CHANGES)
            await conn.execute(
                "INSERT INTO key_changes (key_hash, changed_at) VALUES ($1, $2)",
                wallet_change(wallet),
                now,
            )
            await conn.execute(
                "DELETE FROM key_changes WHERE changed_at < $1", now - CHANGE_RETENTION
            )
        return previous  # type: ignore[no-any-return]

    async def top_keys(self, since: datetime, by: TopBy, limit: int) -> list[KeyTotals]:
        query = top_query(by, ("$1", "$2"), _COLUMNS)
        async with self._connection("top_keys") as conn:
            rows = await conn.fetch(query, since, limit)
        return [
            KeyTotals(
                key_from_row(row, decode_moment),
                int(row["requests"]),
                int(row["rate_limited_total"]),
                int(row["failed"]),
            )
            for row in rows
        ]
