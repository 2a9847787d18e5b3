"""What the key service refuses, in its own words: no HTTP here.

`gateway.http.errors` is the one place that turns these into the error a
client sees (code, status, details), like the wallet and upstream layers'.
"""

from __future__ import annotations


class KeyRefused(Exception):
    """The key service will not do what was asked; subclasses say why."""


class InvalidApiKey(KeyRefused):
    """Unknown, malformed or with a bad checksum: nothing to tell a prober apart."""


class InactiveApiKey(KeyRefused):
    """Revoked, suspended or past its expiry."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class KeyNotFound(KeyRefused):
    """No such key for this wallet (another wallet's key is not found either)."""


class KeyLimitReached(KeyRefused):
    """The wallet already holds `keys.max_active_per_wallet` active keys."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class KeyExists(KeyRefused):
    """The wallet already has an active key where one per wallet is the rule."""


class KeyNotRotatable(KeyRefused):
    """Only an active key can be rotated."""

    def __init__(self, key_id: str) -> None:
        super().__init__(key_id)
        self.key_id = key_id
