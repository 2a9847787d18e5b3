"""Two bounds the key service keeps: unknown keys and keys per wallet.

`UnknownKeys` remembers, briefly, the hashes of well-formed keys the store
did not know, so a flood of made-up keys costs one store query per key per
period, not one per request. `WalletLocks` serialises count-then-insert per
wallet, so the per-wallet cap on active keys holds within one process.
"""

from __future__ import annotations

import asyncio
import weakref

from cachetools import TTLCache

# Bounded, so a flood of distinct made-up keys cannot grow it without limit.
UNKNOWN_KEY_CACHE_SIZE = 65_536


class UnknownKeys:
    def __init__(self, ttl_s: float, maxsize: int = UNKNOWN_KEY_CACHE_SIZE) -> None:
        # ttl 0 turns the cache off: every unknown key is asked of the store.
        self._hashes: TTLCache[str, bool] | None = TTLCache(maxsize, ttl_s) if ttl_s > 0 else None

    def __contains__(self, key_hash: str) -> bool:
        return self._hashes is not None and key_hash in self._hashes

    def remember(self, key_hash: str) -> None:
        if self._hashes is not None:
            self._hashes[key_hash] = True

    def forget(self, key_hash: str) -> None:
        """A key made here is never refused as unknown, however it was tried before."""
        if self._hashes is not None:
            self._hashes.pop(key_hash, None)


class WalletLocks:
    def __init__(self) -> None:
        # Weak values: a wallet's lock lives only while a creation holds it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, wallet: str) -> asyncio.Lock:
        lock = self._locks.get(wallet)
        if lock is None:
            lock = self._locks[wallet] = asyncio.Lock()
        return lock
