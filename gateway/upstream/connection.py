"""One upstream HTTP/1.1 connection: an asyncio Protocol fed to httptools.

The connection keeps what outlives an exchange (transport, parser, read
timer, flow control) and its own `State`; each exchange's state lives in its
`Exchange` (gateway/upstream/exchange.py). The pool drives a connection only
through its methods (`begin`, `finish`, `park`, `unpark`, `abort`), never by
writing its fields. Every event (head, body bytes, end of answer, drain,
close, timeout) wakes the one waiter, which then looks at the exchange: so a
request awaits one future and creates no task.

A connection is reused only when provably clean: its answer ended exactly at
the end of what was read, and no byte arrived while no request was pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

import httptools

from gateway.upstream.exchange import (
    BODY,
    DONE,
    HEAD,
    Exchange,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = ["Connection", "HeadLimits", "State", "UpstreamTimeout", "UpstreamUnavailable"]

NO_BODY_STATUS: Final = frozenset({204, 304})
# A streamed answer pauses reading above HIGH_WATER unsent bytes, resumes below LOW_WATER.
HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024


class State(Enum):
    OPEN = "open"  # connected, no exchange, held by the pool or a requester
    PARKED = "parked"  # idle in the pool, waiting for a request
    BUSY = "busy"  # an exchange is in progress
    CLOSED = "closed"


# Members as module globals, read faster than through the enum class.
OPEN, PARKED, BUSY, CLOSED = State.OPEN, State.PARKED, State.BUSY, State.CLOSED


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """Bounds on an answer's head: larger heads fail the exchange (502)."""

    max_bytes: int = 65536
    max_fields: int = 100


class Connection(asyncio.Protocol):
    """One upstream connection and the exchange in progress on it, if any."""

    __slots__ = (
        "_buffer_limit", "_deadline", "_limits", "_loop", "_on_lost", "_parser", "_read_paused",
        "_timeout", "_timer", "_waiter", "_write_paused", "exchange", "idle_since", "served",
        "state", "transport",
    )  # fmt: skip

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timeout_s: float,
        buffer_limit: int,
        limits: HeadLimits,
        on_lost: Callable[[Connection, bool], None],
    ) -> None:
        self._loop = loop
        self._timeout = timeout_s
        self._buffer_limit = buffer_limit
        self._limits = limits
        self._on_lost = on_lost  # (connection, was parked)
        self._parser = httptools.HttpResponseParser(self)
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._deadline = 0.0
        self._write_paused = self._read_paused = False
        self.transport: asyncio.Transport | None = None
        self.state = OPEN
        self.exchange: Exchange | None = None  # the current (or last) exchange
        self.served = 0  # exchanges completed on this connection
        self.idle_since = 0.0

    # -- driven by the pool ----------------------------------------------------------------

    def begin(self, *, head_only: bool, request_sent: bool) -> Exchange:
        """Start a new exchange on a clean, open connection."""
        last = self.exchange
        if last is not None and last.head_only:
            # llhttp still expects the body a HEAD answer never carries: a fresh parser.
            self._parser = httptools.HttpResponseParser(self)
        exchange = Exchange(head_only, request_sent)
        self.exchange = exchange
        self.state = BUSY
        return exchange

    def finish(self) -> bool:
        """End the exchange; True when the connection is clean and may serve another."""
        exchange = self.exchange
        if self.state is not BUSY or exchange is None:
            return False
        transport = self.transport
        if (
            exchange.phase is not DONE
            or not exchange.keep_alive
            or transport is None
            or transport.is_closing()
        ):
            self.abort()
            return False
        self.served += 1
        self.state = OPEN
        if self._read_paused:
            self._resume_reading()
        return True

    def park(self, now: float) -> None:
        self.state = PARKED
        self.idle_since = now

    def unpark(self) -> None:
        if self.state is PARKED:
            self.state = OPEN

    def usable(self) -> bool:
        transport = self.transport
        return self.state is not CLOSED and transport is not None and not transport.is_closing()

    def abort(self) -> None:
        # The state turns CLOSED when the transport reports the loss, so the
        # pool still learns then whether the connection was parked.
        if self.transport is not None:
            self.transport.abort()
        else:
            self.state = CLOSED

    # -- waiting, with the read timeout ------------------------------------------------

    def wait(self) -> asyncio.Future[None]:
        """A future woken by the next event; fails the exchange after `timeout_s` without one."""
        waiter = self._loop.create_future()
        self._waiter = waiter
        self._deadline = self._loop.time() + self._timeout
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
        return waiter

    def _on_timer(self) -> None:
        # The one timer of this connection: it follows the deadline instead of
        # being re-created per request, and lapses while nobody waits.
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self.state is CLOSED:
            return
        if self._loop.time() + 0.001 < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            return
        self._fail(UpstreamTimeout, "upstream read timed out")

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: type[Exception], reason: str) -> None:
        if self.exchange is not None:
            self.exchange.fail(error, reason)
        self.abort()
        self._wake()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if self.state is not BUSY or exchange is None:
            self.abort()  # bytes nobody asked for: the connection cannot be trusted
            return
        self._deadline = self._loop.time() + self._timeout
        exchange.received += len(data)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._fail(UpstreamUnavailable, "malformed upstream answer")
            return
        # While the head is incomplete, all received so far is head: bound
        # what httptools accumulates for it.
        if exchange.phase is HEAD and exchange.received > self._limits.max_bytes:
            self._fail(UpstreamUnavailable, "upstream answer head too large")

    def eof_received(self) -> bool:
        return False  # close our side too: the connection is done

    def connection_lost(self, exc: Exception | None) -> None:
        parked = self.state is PARKED
        busy = self.state is BUSY
        self.state = CLOSED
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        exchange = self.exchange
        if busy and exchange is not None and exchange.phase in (HEAD, BODY):
            if exc is None and exchange.close_delimited:
                self._message_done(exchange)  # an answer delimited by the end of the connection
            else:
                exchange.fail(UpstreamUnavailable, "upstream closed the connection")
        self._wake()
        self._on_lost(self, parked)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        exchange = self.exchange
        if exchange is not None and exchange.phase is DONE:
            self._unsolicited(exchange)

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self.exchange
        if exchange is None or exchange.phase is not HEAD:
            return  # trailers, or a failed exchange: nothing more is taken from it
        lowered = name.lower()
        if lowered == b"content-length":
            exchange.length = int(value)  # llhttp accepts digits only
        elif lowered == b"transfer-encoding":
            exchange.codings = (
                value if exchange.codings is None else exchange.codings + b"," + value
            )
        exchange.headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        if exchange is None or exchange.phase is not HEAD:
            return
        status = self._parser.get_status_code()
        limits = self._limits
        if (
            len(exchange.headers) > limits.max_fields or exchange.received > limits.max_bytes
        ) and self._head_too_large(exchange):
            self._fail(UpstreamUnavailable, "upstream answer head too large")
            return
        if status < 200:  # interim answer (100, 103): the final one follows, still in HEAD
            exchange.headers, exchange.length, exchange.codings = [], None, None
            return
        if exchange.codings is not None and exchange.codings.strip().lower() != b"chunked":
            # Any coding but plain chunked: the gateway could not frame or relay it truthfully.
            self._fail(UpstreamUnavailable, "unsupported upstream transfer coding")
            return
        exchange.status = status
        if exchange.head_only:
            self._message_done(exchange)  # a HEAD answer ends with its head
            return
        exchange.phase = BODY
        if status not in NO_BODY_STATUS and (
            exchange.length is None or exchange.length > self._buffer_limit
        ):
            exchange.streamed = True
            self._wake()

    def _head_too_large(self, exchange: Exchange) -> bool:
        # Heads that span reads are bounded in data_received; one that arrived
        # within a large read is measured here (only then: the usual head is
        # a few hundred bytes and needs no sum).
        headers = exchange.headers
        if len(headers) > self._limits.max_fields:
            return True
        if exchange.received <= self._limits.max_bytes:
            return False
        size = sum(len(name) + len(value) + 4 for name, value in headers)
        return size > self._limits.max_bytes

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            return
        if exchange.phase is not BODY:
            if exchange.phase is DONE:  # a body after a HEAD answer's end
                self._unsolicited(exchange)
            return
        exchange.chunks.append(body)
        exchange.buffered += len(body)
        if exchange.streamed:
            if exchange.buffered > HIGH_WATER and not self._read_paused:
                self._read_paused = True
                if self.transport is not None:
                    self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is not None and exchange.phase is BODY:
            self._message_done(exchange)
        # In HEAD it was an interim answer's end; DONE or FAILED take nothing more.

    def _message_done(self, exchange: Exchange) -> None:
        exchange.phase = DONE
        exchange.keep_alive = exchange.request_sent and self._parser.should_keep_alive()
        self._wake()

    def _unsolicited(self, exchange: Exchange) -> None:
        # A second answer (or stray bytes) after this one ended: which answer
        # belongs to which request can no longer be proven, so neither is used.
        self._fail(UpstreamUnavailable, "upstream sent more than one answer")

    # -- the exchange ----------------------------------------------------------------------

    def take(self, exchange: Exchange) -> bytes:
        chunk = exchange.take()
        if self._read_paused and exchange.buffered <= LOW_WATER:
            self._resume_reading()
        return chunk

    def _resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            if self.state is not CLOSED and self.transport is not None:
                self.transport.resume_reading()

    async def send_stream(self, exchange: Exchange, body: AsyncIterator[bytes]) -> None:
        """A request body as it comes, chunked; stops if the upstream answered or left."""
        assert self.transport is not None
        write = self.transport.write
        try:
            async for chunk in body:
                if exchange.over or not self.usable():
                    return
                if chunk:
                    write(b"".join((b"%x\r\n" % len(chunk), chunk, b"\r\n")))
                while self._write_paused and self.usable() and not exchange.over:
                    await self.wait()
            if self.usable():
                write(b"0\r\n\r\n")
                exchange.request_sent = True
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
