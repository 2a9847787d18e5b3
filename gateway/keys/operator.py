"""What operators do to keys and wallets, above the store (the operator API and CLI).

Every change goes through the store with its audit event in one transaction
and lands in the change log, so each instance drops its cached record (or
reloads its tier map) within `keys.invalidation_interval_s`; this process
applies it at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.keys.audit import EventKind, Origin, log_key_event, new_event
from gateway.keys.errors import KeyNotFound
from gateway.keys.history import hour_of
from gateway.keys.model import ApiKey, KeyStatus
from gateway.keys.service import KeyService
from gateway.keys.store.admin_base import KeyTotals, PageMark, TopBy


@dataclass(frozen=True, slots=True)
class KeyChange:
    """A PATCH of a key: each field None when not asked for."""

    status: KeyStatus | None = None  # SUSPENDED or ACTIVE; revocation is its own call
    rate_limit: int | None = None
    expires_at: datetime | None = None
    clear_expiry: bool = False
    reason: str | None = None

    @property
    def changes_limits(self) -> bool:
        return self.rate_limit is not None or self.expires_at is not None or self.clear_expiry


class KeyRevoked(Exception):
    """An operator asked to change a revoked key: revocation is final."""

    def __init__(self, key_id: str) -> None:
        super().__init__(key_id)
        self.key_id = key_id


def _reason(reason: str | None) -> dict[str, object]:
    return {} if reason is None else {"reason": reason}


class KeyAdmin:
    def __init__(self, keys: KeyService) -> None:
        self._keys = keys
        self._store = keys.store

    async def page(
        self, wallet: str | None, status: KeyStatus | None, after: PageMark | None, limit: int
    ) -> tuple[list[ApiKey], PageMark | None]:
        """One page of keys, newest first, and where the next one starts (None: last)."""
        found = await self._store.list_keys_page(
            wallet=wallet, status=status, after=after, limit=limit + 1
        )
        page = [self._keys.with_pending_usage(k) for k in found[:limit]]
        more = len(found) > limit and page
        return page, (page[-1].created_at, page[-1].id) if more else None

    async def get(self, key_id: str) -> ApiKey:
        key = await self._store.get(key_id)
        if key is None:
            raise KeyNotFound()
        return self._keys.with_pending_usage(key)

    async def change(self, key: ApiKey, change: KeyChange, origin: Origin) -> ApiKey:
        """Apply a PATCH: limits first (one `limits_changed` event), then the status."""
        if key.effective_status(self._keys.now()) == KeyStatus.REVOKED:
            raise KeyRevoked(key.id)
        if change.changes_limits and self._differs(key, change):
            key = await self._change_limits(key, change, origin)
        if change.status is not None and change.status != key.status:
            changed = await self._keys.set_status(
                key.id, change.status, origin, _reason(change.reason)
            )
            if changed is None or changed.status != change.status:
                raise KeyRevoked(key.id)
            key = changed
        return self._keys.with_pending_usage(key)

    @staticmethod
    def _differs(key: ApiKey, change: KeyChange) -> bool:
        return (
            (change.rate_limit is not None and change.rate_limit != key.rate_limit)
            or (change.expires_at is not None and change.expires_at != key.expires_at)
            or (change.clear_expiry and key.expires_at is not None)
        )

    async def _change_limits(self, key: ApiKey, change: KeyChange, origin: Origin) -> ApiKey:
        details: dict[str, object] = {}
        if change.rate_limit is not None:
            details["rateLimit"] = {"from": key.rate_limit, "to": change.rate_limit}
        if change.expires_at is not None or change.clear_expiry:
            details["expiresAt"] = {"from": _iso(key.expires_at), "to": _iso(change.expires_at)}
        event = new_event(
            EventKind.LIMITS_CHANGED,
            key.id,
            self._keys.now(),
            origin,
            details | _reason(change.reason),
            wallet=key.wallet,
        )
        updated = await self._store.update_limits(
            key.id,
            rate_limit=change.rate_limit,
            expires_at=change.expires_at,
            clear_expiry=change.clear_expiry,
            event=event,
        )
        if updated is None:
            raise KeyRevoked(key.id)
        self._keys.forget(updated)
        log_key_event(event)
        return updated

    async def revoke(self, key_id: str, reason: str | None, origin: Origin) -> ApiKey:
        key = await self.get(key_id)
        if key.effective_status(self._keys.now()) == KeyStatus.REVOKED:
            return key  # revoking twice changes nothing and records nothing
        revoked = await self._keys.set_status(key_id, KeyStatus.REVOKED, origin, _reason(reason))
        if revoked is None:
            raise KeyNotFound()
        return self._keys.with_pending_usage(revoked)

    async def set_tier(
        self, wallet: str, tier: str | None, origin: Origin, reason: str | None = None
    ) -> str | None:
        """Place the wallet in `tier` (None: out of it); returns the previous tier."""
        # From the store, not this process's map: the CLI has none loaded.
        previous = (await self._store.wallet_tiers()).get(wallet)
        details: Mapping[str, object] = {"tier": {"from": previous, "to": tier}} | _reason(reason)
        event = new_event(
            EventKind.LIMITS_CHANGED, "", self._keys.now(), origin, details, wallet=wallet
        )
        stored_previous = await self._store.set_wallet_tier(wallet, tier, event)
        self._keys.tiers.note(wallet, tier)
        if stored_previous != tier:
            log_key_event(event)
        return stored_previous

    async def top(self, window: timedelta, by: TopBy, limit: int) -> list[KeyTotals]:
        """The busiest keys in whole clock hours: the current one and those before it
        that start within `window` of now (1 h = the current hour)."""
        await self._keys.flush_usage()  # this instance's counts, up to now
        since = hour_of(self._keys.now()) - window + timedelta(hours=1)
        return await self._store.top_keys(since, by, limit)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
