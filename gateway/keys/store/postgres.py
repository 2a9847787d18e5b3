"""The scale-out key store: asyncpg pool, the same schema as SQLite in PostgreSQL types.

Several gateway processes share it, so the two checks that must hold across
processes take transaction-scoped advisory locks:
- the exclusive insert locks the (wallet, dialect) pair, so the "no other
  usable key" check and the insert cannot be split by a concurrent caller;
- the change log takes one lock before drawing its sequence number, so
  sequence order equals commit order and a reader's cursor never skips an
  event whose transaction committed late.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import asyncpg

from gateway.keys.audit import KeyEvent
from gateway.keys.clients import ClientIp, ClientKey
from gateway.keys.history import HourKey, HourlyUsage
from gateway.keys.model import COUNTER_FIELDS, ApiKey, KeyStatus, UsageDelta
from gateway.keys.store.base import (
    CHANGE_RETENTION,
    KEY_COLUMNS,
    StoreError,
    key_from_row,
    key_values,
    schema_v1,
    usage_values,
)
from gateway.keys.store.clients import schema_v3
from gateway.keys.store.events import (
    EVENT_INSERT_COLUMNS,
    HOURLY_COLUMNS,
    event_values,
    schema_v2,
)
from gateway.keys.store.postgres_clients import read_clients, write_clients
from gateway.keys.store.postgres_trail import (
    LOCK_GLOBAL,
    PostgresTrail,
    decode_moment,
    effective_status,
)

# Advisory lock space (LOCK_GLOBAL and these), split by purpose so the locks never collide.
_LOCK_WALLET: Final = 0x5747_0001
_OBJ_MIGRATIONS: Final = 0
_OBJ_CHANGES: Final = 1

_DRIVER_ERRORS: Final = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,  # refused or unreachable host; TimeoutError is one too
)

MIGRATIONS: Final = (
    (
        1,
        schema_v1(
            time_type="TIMESTAMPTZ",
            counter_type="BIGINT",
            serial_key="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        ),
    ),
    (
        2,
        schema_v2(
            time_type="TIMESTAMPTZ",
            counter_type="BIGINT",
            serial_key="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        ),
    ),
    (3, schema_v3(time_type="TIMESTAMPTZ", counter_type="BIGINT")),
)
_INSERT_EVENT: Final = (
    f"INSERT INTO key_events ({', '.join(EVENT_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(EVENT_INSERT_COLUMNS) + 1))})"
)
_ADD_HOURLY: Final = (
    f"INSERT INTO key_usage_hourly ({', '.join(HOURLY_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(HOURLY_COLUMNS) + 1))}) "
    "ON CONFLICT (key_id, hour) DO UPDATE SET "
    + ", ".join(f"{c} = key_usage_hourly.{c} + excluded.{c}" for c in HOURLY_COLUMNS[2:])
)

_COLUMNS: Final = ", ".join(KEY_COLUMNS)
_INSERT: Final = (
    f"INSERT INTO api_keys ({_COLUMNS}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(KEY_COLUMNS) + 1))})"
)
_USABLE_OTHER_EXISTS: Final = """
    SELECT EXISTS (
        SELECT 1 FROM api_keys
        WHERE wallet = $1 AND dialect = $2 AND id <> $3 AND status = 'active'
          AND (revoke_at IS NULL OR revoke_at > $4) AND (expires_at IS NULL OR expires_at > $4)
    )"""
_ADD_USAGE: Final = (
    "UPDATE api_keys SET "
    + ", ".join(f"{n} = {n} + ${i}" for i, n in enumerate(COUNTER_FIELDS, start=2))
    + f", last_used_at = GREATEST(last_used_at, ${len(COUNTER_FIELDS) + 2}) WHERE id = $1"
)


def _same_time(moment: datetime | None) -> datetime | None:
    return moment


def _t(moment: datetime) -> datetime:
    return moment


class PostgresKeyStore(PostgresTrail):
    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: float = 5.0,
        command_timeout_s: float = 10.0,
    ) -> None:
        # The store's own metric: operations asked of it, by name.
        self.operations: Counter[str] = Counter()
        self._url = url
        self._pool_options: dict[str, Any] = {
            "min_size": min_size,
            "max_size": max_size,
            "timeout": connect_timeout_s,
            "command_timeout": command_timeout_s,
        }
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        # The URL may carry a password: show only where it points.
        parts = urlsplit(self._url)
        return f"PostgresKeyStore({parts.hostname}:{parts.port or 5432}{parts.path})"

    # -- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(self._url, **self._pool_options)
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"cannot open postgresql store: {exc}") from exc
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except _DRIVER_ERRORS as exc:
                raise StoreError(f"closing postgresql store failed: {exc}") from exc

    async def ping(self) -> None:
        async with self._connection("ping") as conn:
            await conn.fetchval("SELECT 1")

    async def _migrate(self) -> None:
        async with self._connection("migrate", transaction=True) as conn:
            # Processes starting together migrate one after the other.
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_GLOBAL, _OBJ_MIGRATIONS)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, statements in MIGRATIONS:
                if version in applied:
                    continue
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)

    @asynccontextmanager
    async def _connection(
        self, what: str, *, transaction: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        self.operations[what] += 1
        pool = self._pool
        if pool is None:
            raise StoreError("postgresql store is not open")
        try:
            async with pool.acquire() as conn:
                if transaction:
                    async with conn.transaction():
                        yield conn
                else:
                    yield conn
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"postgresql {what} failed: {exc}") from exc

    # -- keys --------------------------------------------------------------------

    async def insert(
        self, key: ApiKey, *, exclusive: bool = False, event: KeyEvent | None = None
    ) -> bool:
        values = key_values(key, _same_time)
        async with self._connection("insert", transaction=True) as conn:
            if exclusive:
                # Held to commit: a concurrent exclusive insert for this wallet
                # and dialect waits here, then sees this key.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                    _LOCK_WALLET,
                    f"{key.dialect.value}:{key.wallet}",
                )
                if await conn.fetchval(
                    _USABLE_OTHER_EXISTS,
                    key.wallet,
                    key.dialect.value,
                    key.id,
                    datetime.now(UTC),
                ):
                    return False
            await conn.execute(_INSERT, *values)
            if event is not None:
                await conn.execute(_INSERT_EVENT, *event_values(event.for_wallet(key.wallet), _t))
        return True

    async def get(self, key_id: str) -> ApiKey | None:
        return await self._fetch_one("get", "id", key_id)

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return await self._fetch_one("get_by_hash", "key_hash", key_hash)

    async def _fetch_one(self, what: str, column: str, value: str) -> ApiKey | None:
        async with self._connection(what) as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE {column} = $1", value)
        return None if row is None else key_from_row(row, decode_moment)

    async def list_keys(
        self, *, wallet: str | None = None, status: KeyStatus | None = None, limit: int = 1000
    ) -> list[ApiKey]:
        clauses: list[str] = []
        params: list[Any] = [limit]
        if wallet is not None:
            params.append(wallet)
            clauses.append(f"wallet = ${len(params)}")
        if status is not None:
            params.extend((datetime.now(UTC), KeyStatus(status).value))
            clauses.append(f"{effective_status(f'${len(params) - 1}')} = ${len(params)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = (
            f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at DESC, id DESC LIMIT $1"
        )
        async with self._connection("list_keys") as conn:
            rows = await conn.fetch(query, *params)
        return [key_from_row(row, decode_moment) for row in rows]

    async def set_status(
        self, key_id: str, status: KeyStatus, *, event: KeyEvent | None = None
    ) -> ApiKey | None:
        update = (
            "UPDATE api_keys SET status = $2 WHERE id = $1 AND status <> 'revoked' AND status <> $2"
        )
        return await self._change("set_status", key_id, update, KeyStatus(status).value, event)

    async def schedule_revocation(
        self, key_id: str, at: datetime, *, event: KeyEvent | None = None
    ) -> ApiKey | None:
        update = (
            "UPDATE api_keys SET revoke_at = $2 "
            "WHERE id = $1 AND (revoke_at IS NULL OR revoke_at > $2)"
        )
        return await self._change("schedule_revocation", key_id, update, at, event)

    async def _change(
        self, what: str, key_id: str, update: str, value: Any, event: KeyEvent | None
    ) -> ApiKey | None:
        """Apply a status-like update; when a row changed, log it for other instances
        and store its audit event in the same transaction."""
        now = datetime.now(UTC)
        async with self._connection(what, transaction=True) as conn:
            changed = await conn.fetchrow(f"{update} RETURNING key_hash, wallet", key_id, value)
            key_hash = None if changed is None else changed["key_hash"]
            if changed is not None and event is not None:
                await conn.execute(
                    _INSERT_EVENT, *event_values(event.for_wallet(changed["wallet"]), _t)
                )
            if key_hash is not None:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)", LOCK_GLOBAL, _OBJ_CHANGES
                )
                await conn.execute(
                    "INSERT INTO key_changes (key_hash, changed_at) VALUES ($1, $2)", key_hash, now
                )
                await conn.execute(
                    "DELETE FROM key_changes WHERE changed_at < $1", now - CHANGE_RETENTION
                )
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1", key_id)
        return None if row is None else key_from_row(row, decode_moment)

    async def add_usage(
        self,
        deltas: Mapping[str, UsageDelta],
        hourly: Mapping[HourKey, HourlyUsage] | None = None,
        *,
        keep_since: datetime | None = None,
        clients: Mapping[ClientKey, ClientIp] | None = None,
    ) -> list[KeyEvent]:
        rows = [
            (key_id, *usage_values(delta), delta.last_used_at)
            for key_id, delta in deltas.items()
            if not delta.is_empty()
        ]
        hours = [(k, h, *u.counts()) for (k, h), u in (hourly or {}).items()]
        if not rows and not hours and not clients and keep_since is None:
            return []
        async with self._connection("add_usage", transaction=True) as conn:
            if rows:
                await conn.executemany(_ADD_USAGE, rows)
            if hours:
                await conn.executemany(_ADD_HOURLY, hours)
            if keep_since is not None:
                await conn.execute("DELETE FROM key_usage_hourly WHERE hour < $1", keep_since)
            return await write_clients(conn, clients or {})

    async def client_ips(self, key_ids: Sequence[str]) -> dict[str, list[ClientIp]]:
        async with self._connection("client_ips") as conn:
            return await read_clients(conn, key_ids)
