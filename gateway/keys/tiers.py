"""Which wallets are in which rate-limit tier, held in memory by every instance.

Few wallets have a tier (an operator places them), so each instance keeps the
whole map: the request path asks a dict, never the store. The map is loaded at
start and loaded again whenever the store's change log names a wallet, so a
tier set on one instance (or by the CLI) applies on every other within
`keys.invalidation_interval_s`, and at once on the instance that set it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from gateway.keys.store.admin_base import changed_wallet
from gateway.keys.store.base import KeyStore


class WalletTiers:
    def __init__(self, store: KeyStore) -> None:
        self._store = store
        self._tiers: dict[str, str] = {}

    def of(self, wallet: str) -> str | None:
        """The wallet's tier name (canonical address), None for none."""
        return self._tiers.get(wallet)

    def in_use(self) -> Counter[str]:
        """Wallets per tier name, for the warning when a tier leaves the configuration."""
        return Counter(self._tiers.values())

    def note(self, wallet: str, tier: str | None) -> None:
        """A change this process just committed: applies before the next request."""
        if tier is None:
            self._tiers.pop(wallet, None)
        else:
            self._tiers[wallet] = tier

    async def load(self) -> None:
        self._tiers = await self._store.wallet_tiers()

    async def sync(self, changed: Iterable[str]) -> None:
        """Reload when the change log named a wallet (another instance changed a tier)."""
        if any(changed_wallet(entry) is not None for entry in changed):
            await self.load()
