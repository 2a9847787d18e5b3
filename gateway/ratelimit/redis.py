"""Rate-limit counters in Redis, shared by every gateway instance.

One EVALSHA of `hit.lua` per decision makes check-and-count atomic across
instances. Keys carry a hash tag over scope and identity, so all windows of
one identity live in one Cluster slot:
``{prefix}:{{scope}:{identity}}:{seconds}:{index}``. Expiry is relative
(window end minus the caller's `now`, plus a margin), so clocks injected by
callers or skewed between hosts never make a counter expire early.

Decisions are coalesced: the hits that arrive in one event-loop tick, or
while a round trip is in flight, go out together in one write, pipelined
without MULTI, one EVALSHA each. Each script still runs atomically in Redis,
so every decision is as exact as with one call per hit; only the client's
per-call cost (pool checkout, retry wrapper, socket calls) is shared by the
batch. Commands are packed here and written to a pooled connection directly:
redis-py's Pipeline packs argument by argument in Python and costs about
half again as much CPU per hit.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from hashlib import sha1
from importlib.resources import files
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import MovedError, NoScriptError, RedisError, ResponseError

from gateway.ratelimit.base import LimiterError, Quota, Window, quota_from_counts

# Counters outlive their window by this much so a host whose clock lags a
# little still finds the counter of the window it believes is current.
EXPIRY_MARGIN_MS = 5_000
# Hits per pipeline: bounds the write and the reply a batch holds in memory;
# the rest wait for the next round trip.
BATCH_LIMIT = 256


class SlotMoved(LimiterError):
    """A Cluster node no longer serves the hit's slot: its script never ran."""


# One queued decision: its packed EVALSHA and the future its caller awaits.
_Pending = tuple[bytes, asyncio.Future[list[int]]]


class RedisLimiter:
    """Closes the client it is given on `close()`."""

    __slots__ = (
        "_closed",
        "_flusher",
        "_head",
        "_pending",
        "_prefix",
        "_redis",
        "_source",
    )

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._source = hit_script()
        sha = sha1(self._source.encode(), usedforsecurity=False).hexdigest()
        # The command name and script digest open every EVALSHA, packed once.
        self._head = b"$7\r\nEVALSHA\r\n$40\r\n%b\r\n" % sha.encode()
        self._pending: list[_Pending] = []
        # The one task sending batches; None when nothing is pending or in flight.
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, prefix: str) -> RedisLimiter:
        """A client that fails fast: a request must not wait seconds on a dead Redis.

        Query parameters in `url` (e.g. `max_connections`, `socket_timeout`)
        override these defaults.
        """
        pool = BlockingConnectionPool.from_url(
            url,
            # Hits take one connection at a time (one batch in flight); the
            # others serve `ping()`.
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
        if not windows:
            raise ValueError("a rate-limit scope needs at least one window")
        keys, arguments, resets = plan_hit(self._prefix, scope, identity, windows, now)
        reply = await self.evaluate(keys, arguments)
        return quota_from_counts(reply[0] == 1, scope, windows, reply[1:], resets)

    async def evaluate(self, keys: list[str], arguments: list[int]) -> list[int]:
        """Run `hit.lua` over one hit's keys in the next batch; its reply, or `LimiterError`.

        The Cluster limiter sends each hit through the limiter of the node
        owning its slot: this batching, per node.
        """
        if self._closed:
            raise LimiterError("rate limiter is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        self._pending.append((_evalsha(self._head, keys, arguments), future))
        if self._flusher is None:
            # Started, not run: hits of this same tick still join its first batch.
            self._flusher = loop.create_task(self._flush())
        # A cancelled caller cancels `future`; the flusher then skips it.
        return await future

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise LimiterError(f"rate limiter backend unreachable: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Refuse queued hits, let the batch in flight finish, close the client."""
        self._closed = True
        queued, self._pending = self._pending, []
        _fail(queued, LimiterError("rate limiter is closed"))
        flusher = self._flusher
        if flusher is not None:
            # The flusher ends after its batch: nothing is queued any more.
            await asyncio.wait([flusher])
        await self._redis.aclose()

    async def _flush(self) -> None:
        """Send batch after batch until nothing is pending."""
        try:
            while self._pending:
                batch = self._take()
                if batch:
                    await self._send(batch)
        finally:
            self._flusher = None

    def _take(self) -> list[_Pending]:
        pending = self._pending
        if len(pending) <= BATCH_LIMIT:
            self._pending = []
        else:
            self._pending = pending[BATCH_LIMIT:]
            pending = pending[:BATCH_LIMIT]
        # Callers that gave up before the send are not counted at all.
        return [item for item in pending if not item[1].done()]

    async def _send(self, batch: list[_Pending]) -> None:
        """Resolve every future of `batch`: with its reply, or with `LimiterError`."""
        try:
            replies = await self._evaluate(batch)
        except Exception as exc:
            # A backend failure (or a bug) reaches the callers as
            # `LimiterError`, so `redis.on_error` applies and nothing hangs;
            # the next batch tries afresh. The message names the failure
            # only: keys carry identities.
            error = LimiterError(f"rate limiter backend failed: {type(exc).__name__}")
            _fail(batch, error, exc)
            # Hits queued behind a failed round trip fail with it rather
            # than wait out another timeout each.
            queued, self._pending = self._pending, []
            _fail(queued, error, exc)
        else:
            _resolve(batch, replies)
        finally:
            # Cancelled mid-batch (the loop shutting down): no caller may
            # wait forever.
            _fail(batch, LimiterError("rate limiter batch was interrupted"))

    async def _evaluate(self, batch: list[_Pending]) -> list[Any]:
        """One reply (or error) per hit; a flushed script is loaded and its hits rerun once."""
        replies = await self._round_trip(batch)
        missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            # Only the hits refused for want of the script are rerun: the
            # others already counted.
            await self._redis.script_load(self._source)
            again = await self._round_trip([batch[n] for n in missing])
            for n, reply in zip(missing, again, strict=True):
                replies[n] = reply
        return replies

    async def _round_trip(self, batch: list[_Pending]) -> list[Any]:
        """Write every command at once, then read one reply (or error) per command.

        Through the client's pool and its retry policy, as a redis-py
        pipeline would go: a connection broken by a Redis restart is
        replaced and the batch sent once more. So a hit is sent at most
        twice, as with one call per hit: a retry after a reply was lost can
        only over-count, never admit beyond a limit.
        """
        commands = [command for command, _ in batch]
        pool = self._redis.connection_pool
        # redis-py leaves ConnectionPool.get_connection unannotated.
        connection: Connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            replies: list[Any] = await connection.retry.call_with_retry(
                lambda: _exchange(connection, commands),
                lambda _error: connection.disconnect(),
            )
            return replies
        finally:
            await pool.release(connection)


def plan_hit(
    prefix: str, scope: str, identity: str, windows: Sequence[Window], now: float
) -> tuple[list[str], list[int], list[int]]:
    """The keys, arguments (limits, then expiries in ms) and window ends of one hit.

    The hash tag spans scope and identity: every window of one identity is
    in one Cluster slot, as the script's multi-key MGET needs.
    """
    base = f"{prefix}:{{{scope}:{identity}}}:"
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
    return keys, [*limits, *expiries], resets


def hit_script() -> str:
    return files("gateway.ratelimit").joinpath("hit.lua").read_text(encoding="utf-8")


async def _exchange(connection: Connection, commands: list[bytes]) -> list[Any]:
    await connection.send_packed_command(commands)
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(await connection.read_response())
        except ResponseError as error:
            # A script error answers one hit; the connection stays in step.
            replies.append(error)
    return replies


def _evalsha(head: bytes, keys: list[str], arguments: list[int]) -> bytes:
    """The RESP form of ``EVALSHA sha len(keys) *keys *arguments``; `head` holds the first two."""
    count = str(len(keys))
    parts = [
        b"*%d\r\n%b$%d\r\n%b\r\n"
        % (3 + len(keys) + len(arguments), head, len(count), count.encode())
    ]
    for key in keys:
        data = key.encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    for number in arguments:
        parts.append(b"$%d\r\n%d\r\n" % (len(str(number)), number))
    return b"".join(parts)


def _resolve(batch: list[_Pending], replies: list[Any]) -> None:
    for (_, future), reply in zip(batch, replies, strict=True):
        if future.done():
            continue
        if isinstance(reply, Exception):
            kind = SlotMoved if isinstance(reply, MovedError) else LimiterError
            error = kind(f"rate limiter backend failed: {type(reply).__name__}")
            error.__cause__ = reply
            future.set_exception(error)
        else:
            future.set_result(reply)


def _fail(batch: list[_Pending], error: LimiterError, cause: BaseException | None = None) -> None:
    """Fail the unresolved futures of `batch`, each with its own copy of `error`."""
    for _, future in batch:
        if not future.done():
            # A copy each: one exception raised in many tasks would pile up
            # their tracebacks.
            copy = LimiterError(*error.args)
            copy.__cause__ = cause
            future.set_exception(copy)
