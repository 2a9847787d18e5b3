"""Rate-limit counters in Redis, shared by every gateway instance.

One EVALSHA of `hit.lua` per decision makes check-and-count atomic across
instances. Keys carry a hash tag over scope and identity, so all windows of
one identity live in one Cluster slot:
``{prefix}:{{scope}:{identity}}:{seconds}:{index}``. Expiry is relative
(window end minus the caller's `now`, plus a margin), so clocks injected by
callers or skewed between hosts never make a counter expire early.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib.resources import files

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from gateway.limits.policy import LimiterError, Quota, Window, quota_from_counts

# Counters outlive their window by this much so a host whose clock lags a
# little still finds the counter of the window it believes is current.
EXPIRY_MARGIN_MS = 5_000


class RedisLimiter:
    """Closes the client it is given on `close()`."""

    __slots__ = ("_prefix", "_redis", "_script")

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        source = files("gateway.limits").joinpath("hit.lua").read_text(encoding="utf-8")
        self._script = redis.register_script(source)

    @classmethod
    def from_url(cls, url: str, *, prefix: str) -> RedisLimiter:
        """A client that fails fast: a request must not wait seconds on a dead Redis.

        Query parameters in `url` (e.g. `max_connections`, `socket_timeout`)
        override these defaults.
        """
        pool = BlockingConnectionPool.from_url(
            url,
            # A burst waits briefly for a free connection instead of failing.
            max_connections=64,
            timeout=2.0,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            # One quick retry heals a pooled connection broken by a Redis restart.
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.05), retries=1),
        )
        client = Redis.from_pool(pool)
        return cls(client, prefix=prefix)

    async def hit(self, scope: str, identity: str, windows: Sequence[Window], now: float) -> Quota:
        base = f"{self._prefix}:{{{scope}:{identity}}}:"
        seconds_now = int(now)
        keys: list[str] = []
        limits: list[int] = []
        expiries: list[int] = []
        resets: list[int] = []
        for window in windows:
            index = seconds_now // window.seconds
            reset = (index + 1) * window.seconds
            keys.append(f"{base}{window.seconds}:{index}")
            limits.append(window.limit)
            expiries.append(math.ceil((reset - now) * 1000) + EXPIRY_MARGIN_MS)
            resets.append(reset)
        if not keys:
            raise ValueError("a rate-limit scope needs at least one window")
        try:
            reply = await self._script(keys=keys, args=[*limits, *expiries])
        except (RedisError, OSError) as exc:
            # The message names the failure only: keys carry identities.
            raise LimiterError(f"rate limiter backend failed: {type(exc).__name__}") from exc
        return quota_from_counts(reply[0] == 1, scope, windows, reply[1:], resets)

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise LimiterError(f"rate limiter backend unreachable: {type(exc).__name__}") from exc

    async def close(self) -> None:
        await self._redis.aclose()
