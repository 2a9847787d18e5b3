"""Whether a store URL names a store that already exists, and how to name it safely.

Operator commands open only an existing store: run from the wrong directory
or with the wrong configuration, creating a fresh empty one would answer
"no key with id" during an emergency revocation instead of an error.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gateway.keys.store.base import StoreError


def store_name(url: str) -> str:
    """The URL as an operator can reuse it: an absolute SQLite path, no password."""
    scheme = url.partition("://")[0].lower()
    if scheme == "sqlite":
        from gateway.keys.store.sqlite import path_from_url

        path = path_from_url(url)
        return url if path == ":memory:" else f"sqlite:///{Path(path).resolve()}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def store_exists(url: str) -> bool:
    """True when `url` names a store some gateway already created (its schema is there)."""
    scheme = url.partition("://")[0].lower()
    if scheme == "sqlite":
        return _sqlite_file_exists(url)
    return await _postgres_schema_exists(url)


def _sqlite_file_exists(url: str) -> bool:
    from gateway.keys.store.sqlite import path_from_url

    path = path_from_url(url)
    return path == ":memory:" or Path(path).is_file()


async def _postgres_schema_exists(url: str) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise StoreError(f"cannot open postgresql store {store_name(url)}: {exc}") from exc
    try:
        found = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    finally:
        await conn.close()
    return bool(found)
