"""Key stores: one protocol, SQLite (default) and PostgreSQL (scale-out) behind a URL.

The registry lives here, apart from its backends, so `base` never imports them.
"""

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from gateway.keys.store.base import CHANGE_RETENTION, KeyStore, StoreError

# -- the registry ----------------------------------------------------------------


def _open_sqlite(url: str) -> KeyStore:
    from gateway.keys.store.sqlite import SQLiteKeyStore

    return SQLiteKeyStore.from_url(url)


def _open_postgres(url: str) -> KeyStore:
    from gateway.keys.store.postgres import PostgresKeyStore

    return PostgresKeyStore(url)


# Backends are imported on first use so a SQLite deployment never loads asyncpg.
_BACKENDS: Final[Mapping[str, Callable[[str], KeyStore]]] = MappingProxyType(
    {"sqlite": _open_sqlite, "postgresql": _open_postgres, "postgres": _open_postgres}
)


def open_store(url: str) -> KeyStore:
    """The (not yet opened) store for `url`: ``sqlite:///relative.db``,
    ``sqlite:////absolute.db`` or ``postgresql://user@host:port/db``."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError("store url must look like sqlite:///path.db or postgresql://host/db")
    factory = _BACKENDS.get(scheme.lower())
    if factory is None:
        known = ", ".join(sorted(_BACKENDS))
        raise ValueError(f"unknown store url scheme {scheme!r} (known: {known})")
    return factory(url)


__all__ = ["CHANGE_RETENTION", "KeyStore", "StoreError", "open_store"]
