"""Rate-limit counters in a Redis Cluster (`redis.url = "redis+cluster://…"`).

The same script and keys as `redis.py`: every window of one identity shares
a hash tag, so each decision is one EVALSHA on the one primary owning that
slot, atomic as on a single Redis. Each hit goes to its owner through a
`RedisLimiter` of that node alone (its batching, its own connections and
timeouts), so a failed or frozen primary fails or delays only the hits whose
keys it holds; every other node's hits are sent and answered as before, and
`redis.on_error` applies to the failed hits only.

The cluster client serves topology only: the slot map, read on first use
and again (in the background, at most once per `REFRESH_INTERVAL_S`) after a
node failed, so a failover is followed without a restart. A hit answered
`MOVED` never ran its script: it waits for the new map and is sent once more
to the new owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisClusterException, RedisError

from gateway.ratelimit.base import LimiterError, Quota, Window, quota_from_counts
from gateway.ratelimit.clients import CLUSTER_SCHEMES, open_cluster
from gateway.ratelimit.redis import RedisLimiter, SlotMoved, plan_hit

# A failing node asks for a new slot map; a dead one would otherwise ask on
# every batch.
REFRESH_INTERVAL_S = 1.0
_TOPOLOGY_ERRORS = (RedisError, RedisClusterException, OSError)


class RedisClusterLimiter:
    """Closes the client it is given, and every node limiter it opened, on `close()`."""

    __slots__ = (
        "_closed",
        "_nodes",
        "_prefix",
        "_ready",
        "_redis",
        "_refreshed_at",
        "_refresher",
        "_url",
    )

    def __init__(self, redis: RedisCluster, *, prefix: str, url: str) -> None:
        self._redis = redis
        self._prefix = prefix
        # The cluster URL: each node's limiter connects as it says (TLS,
        # credentials, query options), to that node's host and port.
        self._url = url
        self._nodes: dict[str, RedisLimiter] = {}
        self._ready: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._refreshed_at = -REFRESH_INTERVAL_S
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, prefix: str) -> RedisClusterLimiter:
        return cls(open_cluster(url), prefix=prefix, url=url)

    async def hit(self, scope: str, identity: str, windows: Sequence[Window], now: float) -> Quota:
        if not windows:
            raise ValueError("a rate-limit scope needs at least one window")
        keys, arguments, resets = plan_hit(self._prefix, scope, identity, windows, now)
        slot = key_slot(keys[0].encode())
        try:
            reply = await (await self._owner(slot)).evaluate(keys, arguments)
        except SlotMoved:
            # The script never ran: ask the new owner once.
            await self._refresh()
            reply = await (await self._owner(slot)).evaluate(keys, arguments)
        except LimiterError:
            # A failover may have moved this slot to a replica.
            self._refresh_soon()
            raise
        return quota_from_counts(reply[0] == 1, scope, windows, reply[1:], resets)

    async def _owner(self, slot: int) -> RedisLimiter:
        """The limiter of the primary serving `slot`, opened on first use."""
        if self._closed:
            raise LimiterError("rate limiter is closed")
        await self._topology()
        try:
            node = self._redis.nodes_manager.get_node_from_slot(slot)
        except _TOPOLOGY_ERRORS as exc:
            raise LimiterError(f"rate limiter backend failed: {type(exc).__name__}") from exc
        limiter = self._nodes.get(node.name)
        if limiter is None:
            limiter = RedisLimiter.from_url(self._node_url(node.host, node.port), prefix="")
            self._nodes[node.name] = limiter
        return limiter

    def _node_url(self, host: str, port: int | str) -> str:
        parts = urlsplit(self._url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if credentials:
            netloc = f"{credentials}@{netloc}"
        scheme = CLUSTER_SCHEMES[parts.scheme.lower()]
        return urlunsplit(parts._replace(scheme=scheme, netloc=netloc))

    async def _topology(self) -> None:
        """Read the slot map once; every caller waits for that one read."""
        ready = self._ready
        if ready is None or (ready.done() and (ready.cancelled() or ready.exception())):
            ready = self._ready = asyncio.get_running_loop().create_task(self._initialize())
        try:
            await asyncio.shield(ready)
        except _TOPOLOGY_ERRORS as exc:
            raise LimiterError(f"rate limiter backend unreachable: {type(exc).__name__}") from None

    async def _initialize(self) -> None:
        await self._redis.initialize()
        self._refreshed_at = asyncio.get_running_loop().time()

    def _refresh_soon(self) -> None:
        """Re-read the slot map in the background, unless one was read a moment ago."""
        loop = asyncio.get_running_loop()
        due = self._refreshed_at + REFRESH_INTERVAL_S
        if self._closed or self._refresher is not None or loop.time() < due:
            return
        self._refresher = loop.create_task(self._refresh_in_background())

    async def _refresh_in_background(self) -> None:
        try:
            await self._refresh()
        finally:
            self._refresher = None

    async def _refresh(self) -> None:
        """Re-read the slot map; concurrent calls share one read (redis-py's epoch)."""
        try:
            await self._redis.nodes_manager.initialize()
        except _TOPOLOGY_ERRORS:
            pass  # the map in hand keeps serving; the next failure asks again
        finally:
            self._refreshed_at = asyncio.get_running_loop().time()

    async def ping(self) -> None:
        try:
            # Every primary must answer: a limiter missing a node refuses
            # (or admits, with redis.on_error = "open") the keys that node holds.
            await self._redis.ping(target_nodes=RedisCluster.PRIMARIES)
        except _TOPOLOGY_ERRORS as exc:
            raise LimiterError(f"rate limiter backend unreachable: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Refuse new hits, let each node's batch in flight finish, close every client."""
        self._closed = True
        pending = [task for task in (self._ready, self._refresher) if task is not None]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        nodes, self._nodes = list(self._nodes.values()), {}
        await asyncio.gather(*(node.close() for node in nodes))
        await self._redis.aclose()
