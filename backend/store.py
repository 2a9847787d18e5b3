"""SQLite storage of orders over aiosqlite.

Every state change is one conditional UPDATE, so concurrent requests for one
order cannot both win: SQLite applies the statements one after another and
only the first still finds the order open. A refusal is explained by reading
the row back afterwards.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosqlite

from backend.orders import ListQuery, NewOrder, OrderStatus

# JSON name -> column name, for the client-supplied fields and the ones we add.
_CLIENT_COLUMNS: dict[str, str] = {
    "owner": "owner",
    "inputToken": "input_token",
    "outputToken": "output_token",
    "amountIn": "amount_in",
    "targetPrice": "target_price",
    "direction": "direction",
    "conditionToken": "condition_token",
    "recipient": "recipient",
    "signature": "signature",
    "uuid": "uuid",
    "validFrom": "valid_from",
    "validTo": "valid_to",
    "publicKey": "public_key",
}
CLIENT_FIELDS: tuple[str, ...] = tuple(_CLIENT_COLUMNS)
_STATE_COLUMNS: dict[str, str] = {
    "status": "status",
    "createdAt": "created_at",
    "txid": "txid",
    "executedAt": "executed_at",
    "executedBy": "executed_by",
    "cancelledAt": "cancelled_at",
    "cancelledBy": "cancelled_by",
}
_OUTPUT = {**_CLIENT_COLUMNS, **_STATE_COLUMNS}
_SELECT = "SELECT id, " + ", ".join(_OUTPUT.values()) + " FROM orders"

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS orders (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL,
        owner_key TEXT NOT NULL,
        input_token TEXT NOT NULL,
        output_token TEXT NOT NULL,
        amount_in TEXT NOT NULL,
        target_price TEXT NOT NULL,
        direction TEXT NOT NULL,
        condition_token TEXT NOT NULL,
        recipient TEXT NOT NULL,
        signature TEXT NOT NULL,
        public_key TEXT,
        valid_from TEXT,
        valid_to TEXT,
        valid_from_us INTEGER,
        valid_to_us INTEGER,
        status TEXT NOT NULL DEFAULT 'open',
        created_at TEXT NOT NULL,
        txid TEXT,
        executed_at TEXT,
        executed_by TEXT,
        cancelled_at TEXT,
        cancelled_by TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS orders_owner ON orders (owner_key, id)",
    "CREATE INDEX IF NOT EXISTS orders_status ON orders (status, id)",
)


class Refusal(StrEnum):
    """Why a state change did not happen; the values are the API's reasons."""

    NOT_FOUND = "not_found"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


def owner_key(owner: str) -> str:
    """Owners compare case-insensitively: EVM addresses arrive in mixed case."""
    return owner.lower()


class OrderStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, database: str) -> OrderStore:
        if database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: each statement is its own transaction, which is all we need.
        db = await aiosqlite.connect(database, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA busy_timeout=5000")
            for statement in _SCHEMA:
                await db.execute(statement)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def create(self, order: NewOrder, created_at: str) -> dict[str, Any] | None:
        """Insert an open order; None when the uuid is taken."""
        values: dict[str, Any] = {_CLIENT_COLUMNS[k]: v for k, v in order.fields.items()}
        values |= {
            "owner_key": owner_key(order.owner),
            "valid_from_us": order.valid_from_us,
            "valid_to_us": order.valid_to_us,
            "status": OrderStatus.OPEN.value,
            "created_at": created_at,
        }
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        sql = f"INSERT INTO orders ({columns}) VALUES ({marks}) ON CONFLICT (uuid) DO NOTHING"
        async with self._db.execute(sql, tuple(values.values())) as cursor:
            if cursor.rowcount == 0:
                return None
        return await self.get(order.uuid)

    async def get(self, uuid: str) -> dict[str, Any] | None:
        async with self._db.execute(f"{_SELECT} WHERE uuid = ?", (uuid,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _to_json(row)

    async def list(self, query: ListQuery) -> tuple[list[dict[str, Any]], str | None]:
        """A page newest first, and the cursor of the next page (None on the last)."""
        clauses: list[str] = []
        params: list[Any] = []
        if query.owner is not None:
            clauses.append("owner_key = ?")
            params.append(owner_key(query.owner))
        if query.status is not None:
            clauses.append("status = ?")
            params.append(query.status.value)
        if query.cursor is not None:
            clauses.append("id < ?")
            params.append(query.cursor)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"{_SELECT}{where} ORDER BY id DESC LIMIT ?"
        params.append(query.limit + 1)
        async with self._db.execute(sql, params) as cursor:
            rows = list(await cursor.fetchall())
        has_more = len(rows) > query.limit
        rows = rows[: query.limit]
        next_cursor = str(rows[-1][0]) if has_more else None
        return [_to_json(row) for row in rows], next_cursor

    async def execute(
        self, uuid: str, now_us: int, now_iso: str, txid: str, wallet: str | None
    ) -> Refusal | None:
        """Fill an open order inside its validity window; None on success."""
        sql = (
            "UPDATE orders SET status = 'filled', txid = ?, executed_at = ?, executed_by = ?"
            " WHERE uuid = ? AND status = 'open'"
            " AND (valid_from_us IS NULL OR valid_from_us <= ?)"
            " AND (valid_to_us IS NULL OR valid_to_us > ?)"
        )
        params = (txid, now_iso, wallet, uuid, now_us, now_us)
        async with self._db.execute(sql, params) as cursor:
            if cursor.rowcount == 1:
                return None
        return await self._refusal(uuid, now_us)

    async def cancel(
        self, uuid: str, now_us: int, now_iso: str, wallet: str | None
    ) -> Refusal | None:
        """Cancel an open order (whatever its window); None on success."""
        sql = (
            "UPDATE orders SET status = 'cancelled', cancelled_at = ?, cancelled_by = ?"
            " WHERE uuid = ? AND status = 'open'"
        )
        async with self._db.execute(sql, (now_iso, wallet, uuid)) as cursor:
            if cursor.rowcount == 1:
                return None
        return await self._refusal(uuid, now_us)

    async def _refusal(self, uuid: str, now_us: int) -> Refusal:
        sql = "SELECT status, valid_from_us FROM orders WHERE uuid = ?"
        async with self._db.execute(sql, (uuid,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return Refusal.NOT_FOUND
        status, valid_from_us = row
        if status != OrderStatus.OPEN.value:
            return Refusal(status)
        # Still open, so the UPDATE failed on the window; statuses never return to open.
        if valid_from_us is not None and valid_from_us > now_us:
            return Refusal.NOT_YET_VALID
        return Refusal.EXPIRED


def _to_json(row: Any) -> dict[str, Any]:
    return dict(zip(_OUTPUT, row[1:], strict=True))
