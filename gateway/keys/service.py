"""KeyService: the life of API keys above the store.

Authentication runs on every keyed request, so it reads through a bounded
cache of records by hash. The cache is emptied for a key at once when this
process revokes or suspends it, and within `keys.invalidation_interval_s`
when anyone else does (CLI, other instances), by polling the store's change
log. Usage is counted in memory and flushed in batches: no store write on the
request path. Refusals are the key layer's own exceptions (`gateway.keys.errors`)
and a store failure the store's own `StoreError`; `gateway.http.errors` answers both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from gateway.config import KeySettings
from gateway.keys.audit import (
    OPERATOR,
    EventKind,
    KeyEvent,
    Origin,
    creation_details,
    log_key_event,
    new_event,
)
from gateway.keys.clients import ClientIp
from gateway.keys.errors import (
    InactiveApiKey,
    InvalidApiKey,
    KeyExists,
    KeyLimitReached,
    KeyNotFound,
    KeyNotRotatable,
)
from gateway.keys.guards import UnknownKeys, WalletLocks
from gateway.keys.history import HourlyUsage
from gateway.keys.model import (
    ApiKey,
    Dialect,
    KeyStatus,
    Permission,
)
from gateway.keys.store.base import KeyStore, StoreError
from gateway.keys.tiers import WalletTiers
from gateway.keys.token import (
    check_api_key_format,
    generate_api_key,
    generate_key_id,
    hash_api_key,
    key_hint,
)
from gateway.keys.usage import UsageCounter
from gateway.lru import LruCache

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewKey:
    """What a wallet asks for when it creates a key; checked by the route."""

    wallet: str
    wallet_display: str
    chain: str
    dialect: Dialect
    name: str
    permissions: frozenset[Permission]
    rate_limit: int
    ip_allowlist: tuple[str, ...] = ()
    expires_at: datetime | None = None

    @classmethod
    def from_key(cls, key: ApiKey) -> NewKey:
        return cls(
            **{f.name: getattr(key, f.name) for f in fields(cls)},
        )


# Read once for `ensure_usable`, on every keyed request: on Python 3.11 an enum
# member read off its class costs a metaclass hook.
_ACTIVE = KeyStatus.ACTIVE

_STATUS_EVENT = {
    KeyStatus.REVOKED: EventKind.REVOKED,
    KeyStatus.SUSPENDED: EventKind.SUSPENDED,
    KeyStatus.ACTIVE: EventKind.RESUMED,
}


class KeyService:
    def __init__(
        self,
        store: KeyStore,
        settings: KeySettings,
        clock: Clock = utc_now,
        *,
        history_days: int = 7,
        seconds: Callable[[], float] = time.time,
    ) -> None:
        """`seconds` is `clock`'s time as Unix seconds, which stamps usage."""
        self.store = store
        self.usage = UsageCounter(store, timedelta(days=history_days), seconds)
        # Every keyed request counts its usage: bound once, the call needs no
        # delegating frame (key id, status, permission or None, client IP).
        self.record_usage = self.usage.record
        self.tiers = WalletTiers(store)
        self._settings = settings
        self._clock = clock
        self._prefixes = (settings.prefix, settings.evm_prefix)
        self._by_hash: LruCache[str, ApiKey] = LruCache(settings.cache_size)
        self._unknown = UnknownKeys(settings.unknown_key_cache_s)
        # Count-then-insert for the per-wallet cap runs one at a time per wallet.
        self._wallet_lock = WalletLocks()
        self._cursor = 0
        self._tasks: list[asyncio.Task[None]] = []

    def now(self) -> datetime:
        return self._clock()

    def prefix_for(self, dialect: Dialect) -> str:
        return self._settings.evm_prefix if dialect == Dialect.EVM else self._settings.prefix

    # -- lifecycle ---------------------------------------------------------
    async def start(self, flush_interval_s: float) -> None:
        self._cursor = await self.store.change_cursor()
        # After the cursor: a tier set in between is loaded again by the first sync.
        await self.tiers.load()
        self._tasks = [
            asyncio.create_task(self._every(self._settings.invalidation_interval_s, self.sync)),
            asyncio.create_task(self._every(flush_interval_s, self.flush_usage)),
            asyncio.create_task(self._every(flush_interval_s, self.sweep_expiries)),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.flush_usage()

    async def _every(self, interval_s: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await job()
            except StoreError:
                log.warning("key store unavailable during %s", getattr(job, "__name__", "job"))

    async def sync(self) -> None:
        """Forget cached records that changed in the store since the last look, and
        reload the tier map when a wallet's tier changed."""
        cursor, changed = await self.store.changes_since(self._cursor)
        for key_hash in changed:
            self._by_hash.pop(key_hash, None)
        # The cursor moves only once the tiers are read: a store failure in between
        # means the same changes are read again on the next tick, not lost.
        await self.tiers.sync(changed)
        self._cursor = cursor

    # -- authentication (hot path) -------------------------------------------
    def cached(self, plaintext: str) -> ApiKey | None:
        """The record behind `plaintext` if this process holds it: no store query.

        None means a lookup is needed (`load`), which costs a store query: the
        caller decides first whether this client may cause one (its per-IP quota).
        """
        return self._by_hash.get(hash_api_key(plaintext))

    def check_format(self, plaintext: str) -> None:
        """A mistyped or made-up key is refused before any store query.

        Only stored keys are cached, so a cache hit needs no format check (about
        5 µs of base62/CRC work per request); a miss is checked here first.
        """
        if not check_api_key_format(plaintext, self._prefixes):
            raise InvalidApiKey()

    async def load(self, plaintext: str) -> ApiKey:
        """The stored record behind a well-formed key, cached; InvalidApiKey if unknown."""
        key_hash = hash_api_key(plaintext)
        if key_hash in self._unknown:
            raise InvalidApiKey()
        key = await self.store.get_by_hash(key_hash)
        if key is None:
            self._unknown.remember(key_hash)
            raise InvalidApiKey()
        self._by_hash[key_hash] = key
        return key

    async def authenticate(self, plaintext: str) -> ApiKey:
        """The usable key behind `plaintext`, for callers off the request path.

        The request path (`gateway.http.admit`) runs the same steps itself, so
        it can charge the client IP between "not cached" and the store query.
        """
        key = self.cached(plaintext)
        if key is None:
            self.check_format(plaintext)
            key = await self.load(plaintext)
        self.ensure_usable(key)
        return key

    def ensure_usable(self, key: ApiKey) -> None:
        """InactiveApiKey unless the key is active and unexpired now."""
        if key.status is _ACTIVE and key.revoke_at is None and key.expires_at is None:
            return  # nothing dated: no clock read (a datetime per request) needed
        now = self._clock()
        status = key.effective_status(now)
        if status != KeyStatus.ACTIVE:
            raise InactiveApiKey(status)
        if key.is_expired(now):
            raise InactiveApiKey("expired")

    # -- wallet-facing operations ----------------------------------------------
    async def create(
        self,
        request: NewKey,
        origin: Origin,
        *,
        exclusive: bool = False,
        kind: EventKind = EventKind.CREATED,
        details: Mapping[str, object] | None = None,
        replacing: ApiKey | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its audit event, committed before it is returned with its
        only plaintext copy.

        Refused with KeyLimitReached when the wallet already holds
        keys.max_active_per_wallet active keys; a rotation (`replacing`) swaps
        one key for another and is refused only above the cap.
        """
        async with self._wallet_lock(request.wallet):
            await self._check_key_cap(request.wallet, replacing)
            return await self._insert_new(request, origin, exclusive, kind, details)

    async def _check_key_cap(self, wallet: str, replacing: ApiKey | None) -> None:
        limit = self._settings.max_active_per_wallet
        active = await self.store.count_active(wallet, self._clock())
        if replacing is not None:
            active -= 1
        if active >= limit:
            raise KeyLimitReached(limit)

    async def _insert_new(
        self,
        request: NewKey,
        origin: Origin,
        exclusive: bool,
        kind: EventKind,
        details: Mapping[str, object] | None,
    ) -> tuple[ApiKey, str]:
        plaintext = generate_api_key(self.prefix_for(request.dialect))
        key = ApiKey(
            id=generate_key_id(),
            key_hash=hash_api_key(plaintext),
            key_hint=key_hint(plaintext),
            wallet=request.wallet,
            wallet_display=request.wallet_display,
            chain=request.chain,
            dialect=request.dialect,
            name=request.name,
            permissions=request.permissions,
            status=KeyStatus.ACTIVE,
            rate_limit=request.rate_limit,
            created_at=self._clock().replace(microsecond=0),
            expires_at=request.expires_at,
            ip_allowlist=request.ip_allowlist,
        )
        event = new_event(kind, key.id, key.created_at, origin, creation_details(key, details))
        inserted = await self.store.insert(key, exclusive=exclusive, event=event)
        if not inserted:
            raise KeyExists()
        log_key_event(event.for_wallet(key.wallet))
        self._unknown.forget(key.key_hash)
        return key, plaintext

    async def list_for(self, wallet: str) -> list[ApiKey]:
        return [self.with_pending_usage(k) for k in await self.store.list_keys(wallet=wallet)]

    async def get_for(self, wallet: str, key_id: str) -> ApiKey:
        """The wallet's own key; another wallet's key is 404, so ids cannot be probed."""
        key = await self.store.get(key_id)
        if key is None or key.wallet != wallet:
            raise KeyNotFound()
        return self.with_pending_usage(key)

    async def revoke_for(self, wallet: str, key_id: str, origin: Origin) -> ApiKey:
        key = await self.get_for(wallet, key_id)
        return await self.set_status(key.id, KeyStatus.REVOKED, origin) or key

    async def events_for(
        self, wallet: str, key_id: str, *, before_seq: int | None, limit: int
    ) -> list[KeyEvent]:
        """The audit trail of the wallet's own key, newest first (404 for another's)."""
        await self.get_for(wallet, key_id)
        return await self.store.list_events(key_id=key_id, before_seq=before_seq, limit=limit)

    async def rotate_for(
        self, wallet: str, key_id: str, grace_s: int, origin: Origin
    ) -> tuple[ApiKey, str]:
        old = await self.get_for(wallet, key_id)
        if not old.is_usable(self._clock()):
            raise KeyNotRotatable(key_id)
        # The successor keeps everything the wallet signed for the old key:
        # permissions, allowlist, expiry and rate limit (never widened).
        created = await self.create(
            NewKey.from_key(old), origin, details={"rotatedFrom": old.id}, replacing=old
        )
        now = self._clock()
        event = new_event(
            EventKind.ROTATED,
            old.id,
            now,
            origin,
            {"replacedBy": created[0].id, "graceSeconds": grace_s},
            wallet=old.wallet,
        )
        if grace_s == 0:
            updated = await self.store.set_status(old.id, KeyStatus.REVOKED, event=event)
        else:
            at = now + timedelta(seconds=grace_s)
            updated = await self.store.schedule_revocation(old.id, at, event=event)
        self.forget(updated or old)
        if updated is not None:
            log_key_event(event)
        return created

    async def active_key_for(self, wallet: str, dialect: Dialect) -> ApiKey | None:
        now = self._clock()
        keys = await self.store.list_keys(wallet=wallet, status=KeyStatus.ACTIVE)
        return next((k for k in keys if k.dialect == dialect and k.is_usable(now)), None)

    # -- operator operations ------------------------------------------------------
    async def set_status(
        self,
        key_id: str,
        status: KeyStatus,
        origin: Origin = OPERATOR,
        details: Mapping[str, object] | None = None,
    ) -> ApiKey | None:
        """The key after the change; the event is stored and logged only if it changed."""
        before = await self.store.get(key_id)
        event = new_event(_STATUS_EVENT[status], key_id, self._clock(), origin, details)
        key = await self.store.set_status(key_id, status, event=event)
        if key is not None:
            self.forget(key)
            if before is not None and before.status != key.status:
                log_key_event(event.for_wallet(key.wallet))
        return key

    async def sweep_expiries(self) -> None:
        """Record (once, in the store) and log each key that has passed its expiry."""
        for event in await self.store.record_expiries(self._clock()):
            log_key_event(event)

    def forget(self, key: ApiKey) -> None:
        """Drop a record this process just changed from the cache (others: change log)."""
        self._by_hash.pop(key.key_hash, None)

    # -- usage statistics (counted in memory, see gateway.keys.usage) ---------------
    def record_rate_limited(self, key_id: str, client_ip: str) -> None:
        self.usage.record_rate_limited(key_id, client_ip)

    def with_pending_usage(self, key: ApiKey) -> ApiKey:
        return self.usage.with_pending(key)

    async def hourly_for(self, keys: Sequence[ApiKey]) -> dict[str, list[HourlyUsage]]:
        return await self.usage.hourly_for(keys)

    async def clients_for(self, keys: Sequence[ApiKey]) -> dict[str, list[ClientIp]]:
        return await self.usage.clients_for(keys)

    async def flush_usage(self) -> None:
        for event in await self.usage.flush():
            log_key_event(event)
