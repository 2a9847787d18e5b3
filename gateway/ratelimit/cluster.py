"""Rate-limit counters in a Redis Cluster (`redis.url = "redis+cluster://…"`).

The same script and keys as `redis.py`: every window of one identity shares
a hash tag, so each decision is one EVALSHA on the one node owning that
slot, atomic as on a single Redis. As there, the decisions that arrive
together are coalesced: one cluster pipeline (without MULTI) per batch,
which redis-py splits by node and sends to the nodes at once, so a burst
takes one connection per node instead of one per hit. A flushed or
restarted node that lost the script is sent it and only the refused hits
rerun: a script that never ran counted nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from hashlib import sha1
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from gateway.ratelimit.base import LimiterError, Quota, Window, quota_from_counts
from gateway.ratelimit.clients import open_cluster
from gateway.ratelimit.redis import BATCH_LIMIT, hit_script, plan_hit

# One queued decision: its keys and arguments, and the future its caller awaits.
_Pending = tuple[list[str], list[int], asyncio.Future[list[int]]]


class RedisClusterLimiter:
    """Closes the client it is given on `close()`."""

    __slots__ = ("_closed", "_flusher", "_pending", "_prefix", "_redis", "_sha", "_source")

    def __init__(self, redis: RedisCluster, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._source = hit_script()
        self._sha = sha1(self._source.encode(), usedforsecurity=False).hexdigest()
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, prefix: str) -> RedisClusterLimiter:
        return cls(open_cluster(url), prefix=prefix)

    async def hit(self, scope: str, identity: str, windows: Sequence[Window], now: float) -> Quota:
        if not windows:
            raise ValueError("a rate-limit scope needs at least one window")
        if self._closed:
            raise LimiterError("rate limiter is closed")
        keys, arguments, resets = plan_hit(self._prefix, scope, identity, windows, now)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        self._pending.append((keys, arguments, future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        reply = await future
        return quota_from_counts(reply[0] == 1, scope, windows, reply[1:], resets)

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:BATCH_LIMIT]
                self._pending = self._pending[BATCH_LIMIT:]
                batch = [item for item in batch if not item[2].done()]
                if batch:
                    await self._send(batch)
        finally:
            self._flusher = None

    async def _send(self, batch: list[_Pending]) -> None:
        try:
            replies = await self._evaluate(batch)
        except Exception as exc:
            # The message names the failure only: keys carry identities.
            _fail(batch, exc)
        else:
            for (_, _, future), reply in zip(batch, replies, strict=True):
                if future.done():
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(_limiter_error(reply))
                else:
                    future.set_result(list(reply))
        finally:
            _fail(batch, asyncio.CancelledError())

    async def _evaluate(self, batch: list[_Pending]) -> list[Any]:
        replies = await self._round_trip(batch)
        missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            # SCRIPT LOAD goes to every primary.
            await self._redis.script_load(self._source)
            again = await self._round_trip([batch[n] for n in missing])
            for n, reply in zip(missing, again, strict=True):
                replies[n] = reply
        return replies

    async def _round_trip(self, batch: list[_Pending]) -> list[Any]:
        pipeline = self._redis.pipeline(transaction=False)
        for keys, arguments, _ in batch:
            # redis-py blocks `pipeline.evalsha` in cluster mode because a
            # script may touch several slots; ours touches one (the keys
            # share a hash tag), which the routing below checks from KEYS.
            pipeline.execute_command("EVALSHA", self._sha, len(keys), *keys, *arguments)
        return list(await pipeline.execute(raise_on_error=False))

    async def ping(self) -> None:
        try:
            # Every primary must answer: a limiter missing a node refuses
            # (or admits, with redis.on_error = "open") a share of the keys.
            await self._redis.ping(target_nodes=RedisCluster.PRIMARIES)
        except (RedisError, RedisClusterException, OSError) as exc:
            raise LimiterError(f"rate limiter backend unreachable: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Refuse queued hits, let the batch in flight finish, close the client."""
        self._closed = True
        queued, self._pending = self._pending, []
        _fail(queued, LimiterError("rate limiter is closed"))
        if self._flusher is not None:
            await asyncio.wait([self._flusher])
        await self._redis.aclose()


def _limiter_error(cause: BaseException) -> LimiterError:
    if isinstance(cause, LimiterError):
        return LimiterError(*cause.args)
    error = LimiterError(f"rate limiter backend failed: {type(cause).__name__}")
    error.__cause__ = cause
    return error


def _fail(batch: list[_Pending], cause: BaseException) -> None:
    """Fail the unresolved futures of `batch`, each with its own LimiterError."""
    for _, _, future in batch:
        if not future.done():
            future.set_exception(_limiter_error(cause))
