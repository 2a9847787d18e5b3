"""The embedded key store: one aiosqlite connection, WAL, synchronous=FULL.

FULL (not NORMAL) because a key whose plaintext a client received must
survive kill -9 and power loss; key writes are rare and usage is batched, so
the extra fsync per commit is cheap. Every transaction is `BEGIN IMMEDIATE`,
which takes SQLite's single write lock up front: that makes the exclusive
insert atomic across connections and processes, and keeps the change log's
sequence in commit order. An asyncio lock keeps one coroutine's statements
from interleaving with another's on the shared connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import aiosqlite

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
)
from gateway.keys.store.clients import schema_v3
from gateway.keys.store.events import (
    EVENT_INSERT_COLUMNS,
    HOURLY_COLUMNS,
    event_values,
    schema_v2,
)
from gateway.keys.store.sqlite_clients import read_clients, write_clients
from gateway.keys.store.sqlite_trail import (
    EFFECTIVE_STATUS,
    SQLiteTrail,
    decode_time,
    encode_time,
    moment_text,
)

MIGRATIONS: Final = (
    (
        1,
        schema_v1(
            time_type="TEXT", counter_type="INTEGER", serial_key="INTEGER PRIMARY KEY AUTOINCREMENT"
        ),
    ),
    (
        2,
        schema_v2(
            time_type="TEXT", counter_type="INTEGER", serial_key="INTEGER PRIMARY KEY AUTOINCREMENT"
        ),
    ),
    (3, schema_v3(time_type="TEXT", counter_type="INTEGER")),
)
_INSERT_EVENT: Final = (
    f"INSERT INTO key_events ({', '.join(EVENT_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_INSERT_COLUMNS)})"
)
_ADD_HOURLY: Final = (
    f"INSERT INTO key_usage_hourly ({', '.join(HOURLY_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in HOURLY_COLUMNS)}) ON CONFLICT (key_id, hour) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in HOURLY_COLUMNS[2:])
)

_COLUMNS: Final = ", ".join(KEY_COLUMNS)
_PLACEHOLDERS: Final = ", ".join("?" for _ in KEY_COLUMNS)
_INSERT: Final = f"INSERT INTO api_keys ({_COLUMNS}) VALUES ({_PLACEHOLDERS})"
# One statement: the check and the insert cannot be split by another writer.
_INSERT_EXCLUSIVE: Final = f"""
    INSERT INTO api_keys ({_COLUMNS}) SELECT {_PLACEHOLDERS}
    WHERE NOT EXISTS (
        SELECT 1 FROM api_keys
        WHERE wallet = ? AND dialect = ? AND id <> ? AND status = 'active'
          AND (revoke_at IS NULL OR revoke_at > ?) AND (expires_at IS NULL OR expires_at > ?)
    )"""
_ADD_USAGE: Final = f"""
    UPDATE api_keys SET {", ".join(f"{n} = {n} + :{n}" for n in COUNTER_FIELDS)},
        last_used_at = CASE
            WHEN :last_used_at IS NOT NULL
                 AND (last_used_at IS NULL OR last_used_at < :last_used_at)
            THEN :last_used_at ELSE last_used_at END
    WHERE id = :id"""


def path_from_url(url: str) -> str:
    """``sqlite:///data/x.db`` → ``data/x.db``; ``sqlite:////var/x.db`` → ``/var/x.db``."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() != "sqlite":
        raise ValueError(f"not a sqlite url scheme: {scheme!r}")
    path = rest.removeprefix("/").split("?", 1)[0]
    if not path:
        raise ValueError("sqlite store url names no database file")
    return path


class SQLiteKeyStore(SQLiteTrail):
    def __init__(self, path: str, *, busy_timeout_ms: int = 10_000) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        # The store's own metric: operations asked of it, by name.
        self.operations: Counter[str] = Counter()

    @classmethod
    def from_url(cls, url: str) -> SQLiteKeyStore:
        return cls(path_from_url(url))

    def __repr__(self) -> str:
        return f"SQLiteKeyStore({self._path!r})"

    # -- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        if self._db is not None:
            return
        try:
            if self._path != ":memory:":
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(self._path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open sqlite store {self._path}: {exc}") from exc
        db.row_factory = aiosqlite.Row
        self._db = db
        try:
            async with self._session("open") as conn:
                await conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                await conn.execute("PRAGMA journal_mode = WAL")
                await conn.execute("PRAGMA synchronous = FULL")
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                await db.close()
            except (sqlite3.Error, ValueError) as exc:
                raise StoreError(f"closing sqlite store failed: {exc}") from exc

    async def ping(self) -> None:
        async with self._session("ping") as db:
            await db.execute_fetchall("SELECT 1")

    async def _migrate(self) -> None:
        async with self._session("migrate", write=True) as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            rows = await db.execute_fetchall("SELECT version FROM schema_migrations")
            applied = {row[0] for row in rows}
            for version, statements in MIGRATIONS:
                if version in applied:
                    continue
                for statement in statements:
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, encode_time(datetime.now(UTC))),
                )

    @asynccontextmanager
    async def _session(
        self, what: str, *, write: bool = False
    ) -> AsyncIterator[aiosqlite.Connection]:
        """The connection to itself, inside `BEGIN IMMEDIATE … COMMIT` when writing."""
        self.operations[what] += 1
        async with self._lock:
            db = self._db
            if db is None:
                raise StoreError("sqlite store is not open")
            try:
                if write:
                    await db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    # Runs after any statement still queued for the worker thread
                    # (aiosqlite executes in order), so a cancelled caller leaves
                    # no half transaction behind.
                    if write:
                        with suppress(sqlite3.Error, ValueError):
                            await db.execute("ROLLBACK")
                    raise
                if write:
                    await db.execute("COMMIT")
            except (sqlite3.Error, ValueError) as exc:
                raise StoreError(f"sqlite {what} failed: {exc}") from exc

    # -- keys --------------------------------------------------------------------

    async def insert(
        self, key: ApiKey, *, exclusive: bool = False, event: KeyEvent | None = None
    ) -> bool:
        values = key_values(key, encode_time)
        async with self._session("insert", write=True) as db:
            if not exclusive:
                await db.execute(_INSERT, values)
            else:
                now = encode_time(datetime.now(UTC))
                cursor = await db.execute(
                    _INSERT_EXCLUSIVE, (*values, key.wallet, key.dialect.value, key.id, now, now)
                )
                if cursor.rowcount != 1:
                    return False
            if event is not None:
                await db.execute(
                    _INSERT_EVENT, event_values(event.for_wallet(key.wallet), moment_text)
                )
            return True

    async def get(self, key_id: str) -> ApiKey | None:
        return await self._fetch_one("get", "id", key_id)

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return await self._fetch_one("get_by_hash", "key_hash", key_hash)

    async def _fetch_one(self, what: str, column: str, value: str) -> ApiKey | None:
        async with self._session(what) as db:
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {_COLUMNS} FROM api_keys WHERE {column} = ?", (value,)
                )
            )
        return key_from_row(rows[0], decode_time) if rows else None

    async def list_keys(
        self, *, wallet: str | None = None, status: KeyStatus | None = None, limit: int = 1000
    ) -> list[ApiKey]:
        clauses, params = ["1 = 1"], {"now": encode_time(datetime.now(UTC)), "limit": limit}
        if wallet is not None:
            clauses.append("wallet = :wallet")
            params["wallet"] = wallet
        if status is not None:
            clauses.append(f"{EFFECTIVE_STATUS} = :status")
            params["status"] = KeyStatus(status).value
        query = (
            f"SELECT {_COLUMNS} FROM api_keys WHERE {' AND '.join(clauses)} "
            "ORDER BY created_at DESC, id DESC LIMIT :limit"
        )
        async with self._session("list_keys") as db:
            rows = await db.execute_fetchall(query, params)
        return [key_from_row(row, decode_time) for row in rows]

    async def set_status(
        self, key_id: str, status: KeyStatus, *, event: KeyEvent | None = None
    ) -> ApiKey | None:
        update = (
            "UPDATE api_keys SET status = ? WHERE id = ? AND status <> 'revoked' AND status <> ?"
        )
        value = KeyStatus(status).value
        return await self._change("set_status", key_id, update, (value, key_id, value), event)

    async def schedule_revocation(
        self, key_id: str, at: datetime, *, event: KeyEvent | None = None
    ) -> ApiKey | None:
        update = (
            "UPDATE api_keys SET revoke_at = ? "
            "WHERE id = ? AND (revoke_at IS NULL OR revoke_at > ?)"
        )
        moment = encode_time(at)
        return await self._change(
            "schedule_revocation", key_id, update, (moment, key_id, moment), event
        )

    async def _change(
        self,
        what: str,
        key_id: str,
        update: str,
        params: tuple[object, ...],
        event: KeyEvent | None,
    ) -> ApiKey | None:
        """Apply a status-like update; when a row changed, log it for other instances
        and store its audit event in the same transaction."""
        now = datetime.now(UTC)
        async with self._session(what, write=True) as db:
            changed = list(
                await db.execute_fetchall(f"{update} RETURNING key_hash, wallet", params)
            )
            if changed and event is not None:
                await db.execute(
                    _INSERT_EVENT, event_values(event.for_wallet(changed[0][1]), moment_text)
                )
            if changed:
                await db.execute(
                    "INSERT INTO key_changes (key_hash, changed_at) VALUES (?, ?)",
                    (changed[0][0], encode_time(now)),
                )
                await db.execute(
                    "DELETE FROM key_changes WHERE changed_at < ?",
                    (encode_time(now - CHANGE_RETENTION),),
                )
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)
                )
            )
        return key_from_row(rows[0], decode_time) if rows else None

    async def add_usage(
        self,
        deltas: Mapping[str, UsageDelta],
        hourly: Mapping[HourKey, HourlyUsage] | None = None,
        *,
        keep_since: datetime | None = None,
        clients: Mapping[ClientKey, ClientIp] | None = None,
    ) -> list[KeyEvent]:
        params = [
            {
                "id": key_id,
                "last_used_at": encode_time(delta.last_used_at),
                **{n: getattr(delta, n) for n in COUNTER_FIELDS},
            }
            for key_id, delta in deltas.items()
            if not delta.is_empty()
        ]
        hours = [(k, moment_text(h), *u.counts()) for (k, h), u in (hourly or {}).items()]
        if not params and not hours and not clients and keep_since is None:
            return []
        async with self._session("add_usage", write=True) as db:
            await db.executemany(_ADD_USAGE, params)
            await db.executemany(_ADD_HOURLY, hours)
            if keep_since is not None:
                await db.execute(
                    "DELETE FROM key_usage_hourly WHERE hour < ?", (moment_text(keep_since),)
                )
            return await write_clients(db, clients or {})

    async def client_ips(self, key_ids: Sequence[str]) -> dict[str, list[ClientIp]]:
        async with self._session("client_ips") as db:
            return await read_clients(db, key_ids)
