"""Which rate-limit scope a request counts against, and the decision.

The scope follows the identity: a valid key counts against the key, a signed
request against its wallet, anything else (public, failed authentication)
against the client IP. Key management has a scope of its own per wallet.
Signed requests and key creation are also charged to the client IP before
their signature is checked: wallets cost nothing to make, addresses do. Every
per-IP scope charges an IPv6 client per /64, /56 and /48 at once, with
widening budgets (`gateway.addresses`): what a client's requests fill is
shared with everyone else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from functools import lru_cache

from gateway.addresses import PREFIX_WIDENING, client_buckets
from gateway.config import RateLimitSettings
from gateway.logs import log_event
from gateway.metrics import Metrics
from gateway.operator_config import TierSettings
from gateway.ratelimit import Limiter, LimiterError, Quota, RateLimited, Window
from gateway.ratelimit.base import WindowState
from gateway.ratelimit.memory import MemoryLimiter


class Scope(StrEnum):
    """What a decision counts against; its value names the scope in 429 bodies,
    metrics and the limiter's keys."""

    KEY = "key"
    WALLET = "wallet"
    IP = "ip"
    MANAGEMENT = "management"
    # Per client IP, charged before a signature is verified (throwaway wallets
    # are free, IPs are not).
    IP_SIGNED = "ip_signed"
    IP_KEY_CREATION = "ip_key_creation"
    # Per operator API token (by its configured name).
    OPERATOR = "operator"


log = logging.getLogger("walletgate.ratelimit")

# The in-process limiter's synchronous decision (`MemoryLimiter.decide`).
DecideNow = Callable[[str, str, Sequence[Window], float], Quota]

# A per-minute figure above any tier's, so the tier alone decides.
_UNCAPPED = 2**31
# Read once for the per-request scopes: on Python 3.11 an enum member read off
# its class costs a metaclass hook (about a thousand instructions).
_KEY = Scope.KEY
_WALLET = Scope.WALLET
_IP = Scope.IP
_IP_SIGNED = Scope.IP_SIGNED
_IP_KEY_CREATION = Scope.IP_KEY_CREATION
_MANAGEMENT = Scope.MANAGEMENT
_OPERATOR = Scope.OPERATOR


def widened(windows: tuple[Window, ...]) -> dict[int, tuple[Window, ...]]:
    """`windows` for each budget multiple of `PREFIX_WIDENING`, by multiple."""
    return {
        multiple: tuple(Window(w.name, w.seconds, w.limit * multiple) for w in windows)
        for _, multiple in PREFIX_WIDENING
    }


class QuotaGate:
    def __init__(
        self,
        limiter: Limiter,
        settings: RateLimitSettings,
        metrics: Metrics,
        *,
        fail_open: bool,
        clock: Callable[[], float] = time.time,
        tiers: tuple[TierSettings, ...] = (),
    ) -> None:
        self._limiter = limiter
        # The in-process counters decide without I/O: called directly, the
        # decision skips two coroutines on every request of the default deployment.
        self._decide_now: DecideNow | None = (
            limiter.decide if isinstance(limiter, MemoryLimiter) else None
        )
        self._settings = settings
        self._tiers = {tier.name: tier for tier in tiers}
        self._missing_tiers: set[str] = set()
        self._metrics = metrics
        self._fail_open = fail_open
        self.clock = clock
        self._wallet_windows = self._per_identity_windows(settings.per_minute, None)
        self._ip_windows = widened((Window("minute", 60, settings.public_per_minute),))
        self._management_windows = (
            Window("minute", 60, settings.management_per_minute),
            Window("hour", 3600, settings.management_per_hour),
        )
        # Per-IP scopes charge an IPv6 client per /64, /56 and /48 at once: what
        # its requests fill (replay entries, keys, counters, caches) is shared.
        self._ip_signed_windows = widened((Window("minute", 60, settings.ip_signed_per_minute),))
        self._ip_key_creation_windows = widened(
            (
                Window("minute", 60, settings.ip_key_creation_per_minute),
                Window("hour", 3600, settings.ip_key_creation_per_hour),
            )
        )
        self._operator_windows = (Window("minute", 60, settings.operator_per_minute),)
        self.key_windows = lru_cache(maxsize=256)(self._per_identity_windows)

    def _per_identity_windows(self, per_minute: int, tier_name: str | None) -> tuple[Window, ...]:
        """The key's own minute figure capped by its wallet's tier, and the tier's hour
        and day; a wallet without a tier (or one no longer configured) has [rate_limits]."""
        tier = self._tier(tier_name)
        ceilings = self._settings if tier is None else tier
        return (
            Window("minute", 60, min(per_minute, ceilings.per_minute)),
            Window("hour", 3600, ceilings.per_hour),
            Window("day", 86400, ceilings.per_day),
        )

    def _tier(self, name: str | None) -> TierSettings | None:
        if name is None:
            return None
        tier = self._tiers.get(name)
        if tier is None:
            self._warn_missing(name, None)
        return tier

    def check_tiers(self, in_use: Mapping[str, int]) -> None:
        """Warn once for each tier that wallets are in but the configuration lacks."""
        for name, wallets in sorted(in_use.items()):
            if name not in self._tiers:
                self._warn_missing(name, wallets)

    def _warn_missing(self, name: str, wallets: int | None) -> None:
        if name in self._missing_tiers:
            return
        self._missing_tiers.add(name)
        log_event(
            log,
            logging.WARNING,
            "tier.missing",
            f"tier {name!r} is not configured; its wallets fall back to [rate_limits]",
            tier=name,
            wallets=wallets,
        )

    async def for_key(self, key_id: str, per_minute: int, tier: str | None = None) -> Quota:
        windows = self.key_windows(per_minute, tier)
        if self._decide_now is not None:  # every keyed request: no coroutine of its own
            return self._admit_now(self._decide_now, _KEY, key_id, windows)
        return await self._admit(_KEY, key_id, windows)

    async def for_wallet(self, wallet: str, tier: str | None = None) -> Quota:
        # A signing wallet in a tier has the tier's figures (no key of its own to cap them).
        windows = self._wallet_windows if tier is None else self.key_windows(_UNCAPPED, tier)
        if self._decide_now is not None:  # every signed request: no coroutine of its own
            return self._admit_now(self._decide_now, _WALLET, wallet, windows)
        return await self._admit(_WALLET, wallet, windows)

    async def for_operator(self, name: str) -> Quota:
        return await self._admit(_OPERATOR, name, self._operator_windows)

    async def for_ip(self, address: str) -> Quota:
        return await self._admit_prefixes(_IP, address, self._ip_windows)

    async def for_management(self, wallet: str) -> Quota:
        return await self._admit(_MANAGEMENT, wallet, self._management_windows)

    async def for_signed_ip(self, address: str) -> Quota:
        decide_now = self._decide_now
        if decide_now is None:
            return await self._admit_prefixes(_IP_SIGNED, address, self._ip_signed_windows)
        # Every signed request pays this before recovery: decided in-process, no coroutines.
        return self._admitted(
            self._decide_prefixes_now(decide_now, _IP_SIGNED, address, self._ip_signed_windows)
        )

    async def for_key_creation_ip(self, address: str) -> Quota:
        return await self._admit_prefixes(_IP_KEY_CREATION, address, self._ip_key_creation_windows)

    async def peek_ip(self, address: str) -> Quota:
        """Count against the IP without refusing: for answers that are errors anyway
        (the caller refuses with `RateLimited` when the decision says so)."""
        return await self._decide_prefixes(_IP, address, self._ip_windows)

    async def _admit(self, scope: Scope, identity: str, windows: tuple[Window, ...]) -> Quota:
        if self._decide_now is not None:
            return self._admit_now(self._decide_now, scope, identity, windows)
        return self._admitted(await self._decide(scope, identity, windows))

    def _admit_now(
        self, decide_now: DecideNow, scope: Scope, identity: str, windows: tuple[Window, ...]
    ) -> Quota:
        """`_admit` with the in-process limiter, which never waits."""
        return self._admitted(decide_now(scope, identity, windows, self.clock()))

    def _admitted(self, quota: Quota) -> Quota:
        """`quota` if it admits; counted and raised as `RateLimited` if not."""
        if not quota.allowed:
            self._metrics.count_rate_limited(quota.scope)
            raise RateLimited(quota, self.clock())
        return quota

    async def _admit_prefixes(
        self, scope: Scope, address: str, windows: dict[int, tuple[Window, ...]]
    ) -> Quota:
        """Admit only if the address and every prefix it is in has room."""
        return self._admitted(await self._decide_prefixes(scope, address, windows))

    async def _decide_prefixes(
        self, scope: Scope, address: str, windows: dict[int, tuple[Window, ...]]
    ) -> Quota:
        """The decision over the address (or /64) and then each wider prefix.

        Narrowest first, stopping at a refusal: it counts nothing in the wider
        ones, so a client over its own ceiling never uses up its neighbours'
        budget. An admission carries the decision with the least left.
        """
        decide_now = self._decide_now
        if decide_now is not None:
            return self._decide_prefixes_now(decide_now, scope, address, windows)
        binding: Quota | None = None
        for bucket, multiple in client_buckets(address):
            quota = await self._decide(scope, bucket, windows[multiple])
            if not quota.allowed:
                return quota
            binding = _least_left(binding, quota)
        assert binding is not None  # client_buckets is never empty
        return binding

    def _decide_prefixes_now(
        self,
        decide_now: DecideNow,
        scope: Scope,
        address: str,
        windows: dict[int, tuple[Window, ...]],
    ) -> Quota:
        """`_decide_prefixes` with the in-process limiter, which never waits."""
        binding: Quota | None = None
        for bucket, multiple in client_buckets(address):
            quota = decide_now(scope, bucket, windows[multiple], self.clock())
            if not quota.allowed:
                return quota
            binding = _least_left(binding, quota)
        assert binding is not None  # client_buckets is never empty
        return binding

    async def _decide(self, scope: Scope, identity: str, windows: tuple[Window, ...]) -> Quota:
        now = self.clock()
        try:
            return await self._limiter.hit(scope, identity, windows, now)
        except LimiterError:
            self._metrics.rate_limiter_errors.inc()
            if not self._fail_open:
                raise
            return _unlimited(scope, windows, now)


def _least_left(binding: Quota | None, quota: Quota) -> Quota:
    """Of the admitting decisions so far, the one an admission carries: least left."""
    if binding is None or quota.binding.remaining < binding.binding.remaining:
        return quota
    return binding


def _unlimited(scope: Scope, windows: tuple[Window, ...], now: float) -> Quota:
    """An admitting decision with full headers, used when failing open."""
    states = tuple(
        WindowState(w, w.limit, (int(now) // w.seconds + 1) * w.seconds) for w in windows
    )
    return Quota(True, scope, states, states[0])
