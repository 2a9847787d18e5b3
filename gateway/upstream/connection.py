"""One upstream HTTP/1.1 connection: an asyncio Protocol fed to httptools.

Its state is that of the exchange in progress; gateway/upstream.py pools
these connections and drives the exchanges. Every event (head, body bytes,
end of answer, drain, close, timeout) wakes the one waiter, which then
looks at the state: so a request awaits one future and creates no task.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Final

import httptools

NO_BODY_STATUS: Final = frozenset({204, 304})
# A streamed answer pauses reading above HIGH_WATER unsent bytes, resumes below LOW_WATER.
HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024


class UpstreamUnavailable(Exception):
    """Refused, reset or closed before a complete answer, or not HTTP at all."""


class UpstreamTimeout(Exception):
    """No connection, or no byte, from the upstream within `timeout_s`."""


class Connection(asyncio.Protocol):
    """One upstream connection; its state is that of the exchange in progress."""

    __slots__ = (
        "_buffer_limit", "_deadline", "_interim", "_loop", "_new_parser", "_on_lost", "_parser",
        "_timeout", "_timer", "_waiter", "_write_paused", "active", "buffered", "chunked",
        "chunks", "closed", "complete", "error", "got_bytes", "head_only", "headers", "idle",
        "idle_since", "keep_alive", "length", "read_paused", "ready", "reason", "registered",
        "reused", "sent_all", "status", "streamed", "transport",
    )  # fmt: skip

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timeout_s: float,
        buffer_limit: int,
        on_lost: Callable[[Connection], None],
    ) -> None:
        self._loop = loop
        self._timeout = timeout_s
        self._buffer_limit = buffer_limit
        self._on_lost = on_lost
        self._parser = httptools.HttpResponseParser(self)
        self._new_parser = False
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._deadline = 0.0
        self._write_paused = False
        self.transport: asyncio.Transport | None = None
        self.registered = self.closed = self.reused = self.idle = self.read_paused = False
        self.idle_since = 0.0
        self.start(head_only=False, sent_all=True)
        self.active = False

    def start(self, *, head_only: bool, sent_all: bool) -> None:
        """Reset the per-exchange state for a new request."""
        if self._new_parser:
            self._parser = httptools.HttpResponseParser(self)
            self._new_parser = False
        self.active = True
        self.head_only = head_only
        self.sent_all = sent_all
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.length: int | None = None
        self.chunked = self.streamed = self.ready = self.complete = self.keep_alive = False
        self.got_bytes = self._interim = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.error: type[Exception] | None = None
        self.reason = ""

    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error(self.reason)

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
        if waiter is None or waiter.done() or self.closed:
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
        if self.error is None:
            self.error, self.reason = error, reason
        self.abort()
        self._wake()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.active:  # bytes nobody asked for: the connection cannot be trusted
            self.abort()
            return
        self.got_bytes = True
        self._deadline = self._loop.time() + self._timeout
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._fail(UpstreamUnavailable, "malformed upstream answer")

    def eof_received(self) -> bool:
        return False  # close our side too: the connection is done

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.active and not self.complete:
            if exc is None and self.streamed and self.length is None and not self.chunked:
                self._message_done()  # an answer delimited by the end of the connection
            else:
                self._fail(UpstreamUnavailable, "upstream closed the connection")
        self._wake()
        if self.registered:
            self._on_lost(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # more than one answer to one request
            self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-length":
            self.length = int(value)  # llhttp accepts digits only
        elif lowered == b"transfer-encoding":
            self.chunked = b"chunked" in value.lower()
        self.headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # interim answer (100, 103): the final one follows
            self.headers, self.length, self.chunked, self._interim = [], None, False, True
            return
        self.status = status
        if self.head_only:
            # llhttp still expects the body a HEAD answer never carries: end the
            # message here and give the next request a fresh parser.
            self._new_parser = True
            self._message_done()
        elif status not in NO_BODY_STATUS and (
            self.length is None or self.length > self._buffer_limit
        ):
            self.streamed = self.ready = True
            self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.streamed:
            if self.buffered > HIGH_WATER and not self.read_paused and self.transport is not None:
                self.read_paused = True
                self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self._message_done()

    def _message_done(self) -> None:
        if self.complete:
            return
        self.complete = self.ready = True
        self.keep_alive = self.sent_all and self._parser.should_keep_alive()
        self._wake()

    # -- the exchange ----------------------------------------------------------------------

    def take(self) -> bytes:
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.read_paused and self.buffered <= LOW_WATER:
            self.resume_reading()
        return chunk

    def resume_reading(self) -> None:
        if self.read_paused and self.transport is not None:
            self.read_paused = False
            if not self.closed:
                self.transport.resume_reading()

    async def send_stream(self, body: AsyncIterator[bytes]) -> None:
        """A request body as it comes, chunked; stops if the upstream answered or left."""
        assert self.transport is not None
        write = self.transport.write
        try:
            async for chunk in body:
                if self.complete or not self.usable():
                    return
                if chunk:
                    write(b"".join((b"%x\r\n" % len(chunk), chunk, b"\r\n")))
                while self._write_paused and not self.complete and self.usable():
                    await self.wait()
            if self.usable():
                write(b"0\r\n\r\n")
                self.sent_all = True
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
