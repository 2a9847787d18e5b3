"""Key stores: one protocol, SQLite (default) and PostgreSQL (scale-out) behind a URL."""

from gateway.store.base import CHANGE_RETENTION, KeyStore, StoreError, open_store

__all__ = ["CHANGE_RETENTION", "KeyStore", "StoreError", "open_store"]
