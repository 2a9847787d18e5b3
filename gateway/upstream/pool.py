"""A lean HTTP/1.1 client for the one upstream, with a bounded keep-alive pool.

aiohttp's ClientSession cost about 69 µs of the gateway's 173 µs a request.
Here a request is one `transport.write`, answers are parsed by httptools
(llhttp, C), and a request creates one future and no task; its read timeout
is one timer per connection that is moved, not re-created, per request.
Large or unsized answers are streamed with read flow control.

The pool owns places and the idle list; each connection owns its state
(gateway/upstream/connection.py) and is driven only through its methods.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Final

from yarl import URL

from gateway.upstream.connection import OPEN, Connection, HeadLimits
from gateway.upstream.exchange import BODY, DONE, FAILED, UpstreamTimeout, UpstreamUnavailable
from gateway.upstream.response import UpstreamResponse

__all__ = [
    "HeadLimits",
    "UpstreamPool",
    "UpstreamResponse",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]

# Methods safe to send twice: retried once when a kept-alive connection died unseen.
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Methods whose missing body is still announced (RFC 9110, section 8.6).
SENDS_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
# Idle connections older than this are closed, not reused: below the 5 s
# keep-alive of common servers, so a request rarely meets a closing socket.
IDLE_S: Final = 4.0


class UpstreamPool:
    """Connections to one upstream: at most `max_connections`, FIFO waits, LIFO reuse."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        max_connections: int,
        buffer_limit: int,
        head_limits: HeadLimits | None = None,
    ) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.raw_host:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.loop = asyncio.get_running_loop()
        self.timeout_s = timeout_s
        self.buffer_limit = buffer_limit
        self.head_limits = head_limits or HeadLimits()
        self.host = parsed.raw_host
        # http and https always have a port (explicit or default); yarl types it optional.
        self.port: int = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.prefix = parsed.raw_path.rstrip("/")
        self._ssl = ssl.create_default_context() if parsed.scheme == "https" else None
        self._fixed = _fixed_headers(parsed)
        self._limit = max_connections
        self._open = 0  # connections open or being opened
        self._idle: deque[Connection] = deque()
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self._conns: set[Connection] = set()
        self._closing = False

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def request(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> UpstreamResponse:
        """Send one request; the answer's head, and its body when small and sized."""
        streaming = body is not None and not isinstance(body, bytes)
        head = self._head(method, target, headers, body, streaming)
        conn = await self._acquire()
        try:
            return await self._exchange(conn, method, head, body, streaming)
        except UpstreamUnavailable:
            exchange = conn.exchange
            got_bytes = exchange is None or exchange.received > 0
            if not conn.served or got_bytes or streaming or method not in IDEMPOTENT:
                raise
        # A kept-alive connection the upstream had closed unseen: once more, fresh.
        conn = await self._acquire(fresh=True)
        return await self._exchange(conn, method, head, body, streaming)

    def _head(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
        streaming: bool,
    ) -> bytes:
        lines = [f"{method} {self.prefix}{target} HTTP/1.1\r\n{self._fixed}"]
        lines += [f"{name}: {value}\r\n" for name, value in headers]
        if streaming:
            lines.append("Transfer-Encoding: chunked\r\n\r\n")
        elif body or method in SENDS_BODY:
            lines.append(f"Content-Length: {len(body) if body else 0}\r\n\r\n")  # type: ignore[arg-type]
        else:
            lines.append("\r\n")
        text = "".join(lines)
        # One line break per line, or a value smuggled a header (or a request) in.
        expected = len(lines) + self._fixed.count("\n") + (lines[-1] != "\r\n")
        if text.count("\n") != expected or text.count("\r") != expected:
            raise ValueError("a request line or header holds a line break")
        return text.encode("utf-8", "surrogateescape")

    async def _exchange(
        self,
        conn: Connection,
        method: str,
        head: bytes,
        body: bytes | AsyncIterator[bytes] | None,
        streaming: bool,
    ) -> UpstreamResponse:
        exchange = conn.begin(head_only=method == "HEAD", request_sent=not streaming)
        assert conn.transport is not None
        try:
            if streaming:
                conn.transport.write(head)
                await conn.send_stream(exchange, body)  # type: ignore[arg-type]
            else:
                conn.transport.write(head + body if body else head)  # type: ignore[operator]
            # Checked after every wake: a whole answer may be followed by a second
            # one in the same read, which fails the exchange after it was DONE.
            while exchange.phase is not DONE:
                if exchange.phase is FAILED:
                    exchange.raise_error()
                if exchange.phase is BODY and exchange.streamed:
                    break
                await conn.wait()
        except BaseException:
            conn.abort()
            raise
        if not exchange.streamed:  # sized within the buffer limit, or no body at all
            chunks = exchange.chunks
            whole = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            reply = UpstreamResponse(exchange, whole, None, self.release)
            self.release(conn)
            return reply
        return UpstreamResponse(exchange, None, conn, self.release)

    # -- the pool --------------------------------------------------------------------------

    async def _acquire(self, *, fresh: bool = False) -> Connection:
        while True:
            if self._closing:
                raise UpstreamUnavailable("upstream client closed")
            if not fresh and (conn := self._pop_idle()) is not None:
                return conn
            if self._open < self._limit and not self._waiters:
                self._open += 1
                return await self._connect()
            if fresh and self._idle:  # the oldest idle connection gives up its place
                self._retire(self._idle.popleft())
                return await self._connect()
            waiter: asyncio.Future[Connection | None] = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._give_back(waiter.result())
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
            if handed is None:  # a free place, passed on to us
                return await self._connect()
            if handed.usable() and handed.state is OPEN:
                return handed
            # It closed before we ran: its place moves on once it is lost.

    def _pop_idle(self) -> Connection | None:
        idle = self._idle
        if not idle:
            return None
        now = self.loop.time()
        while idle:
            conn = idle.pop()
            conn.unpark()
            if conn.usable() and now - conn.idle_since < IDLE_S:
                return conn
            conn.abort()  # its place is freed once the transport reports it lost
        return None

    def _retire(self, conn: Connection) -> None:
        """Close a connection whose place the caller takes over."""
        self._conns.discard(conn)  # no longer ours: its loss frees no place
        conn.unpark()
        conn.abort()

    def _give_back(self, handed: Connection | None) -> None:
        if handed is None:
            self._free_place()
        else:
            self.release(handed)

    async def _connect(self) -> Connection:
        """A new connection in a place already counted in `_open`."""
        try:
            async with asyncio.timeout(self.timeout_s):
                _, conn = await self.loop.create_connection(
                    self._new_connection, self.host, self.port, ssl=self._ssl
                )
        except BaseException as exc:
            self._free_place()
            if isinstance(exc, TimeoutError):  # before OSError: TimeoutError is one
                raise UpstreamTimeout("upstream connect timed out") from None
            if isinstance(exc, OSError):
                raise UpstreamUnavailable(f"upstream connect failed: {exc}") from None
            raise
        if self._closing or not conn.usable():
            conn.abort()
            self._free_place()
            raise UpstreamUnavailable("upstream closed the connection")
        self._conns.add(conn)
        return conn

    def _new_connection(self) -> Connection:
        return Connection(self.loop, self.timeout_s, self.buffer_limit, self.head_limits, self.lost)

    def release(self, conn: Connection) -> None:
        """After an exchange: reuse the connection if it is clean, else close it."""
        if not conn.finish() or self._closing:
            conn.abort()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.park(self.loop.time())
        idle = self._idle
        idle.append(conn)
        oldest = idle[0]  # a quiet pool shrinks from its bottom
        if conn.idle_since - oldest.idle_since > IDLE_S:
            idle.popleft()
            oldest.unpark()
            oldest.abort()

    def lost(self, conn: Connection, parked: bool) -> None:
        """A connection's transport is gone: if it held one of our places, free it."""
        if conn not in self._conns:
            return  # never ours, or retired by a caller that took its place
        self._conns.discard(conn)
        if parked:
            self._idle.remove(conn)
        self._free_place()

    def _free_place(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._open -= 1

    async def close(self) -> None:
        """Close every connection; waiting and later requests fail as unavailable."""
        self._closing = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamUnavailable("upstream client closed"))
        while self._idle:
            self._idle.pop().unpark()
        for conn in list(self._conns):
            conn.abort()
        await asyncio.sleep(0)  # transports close their sockets on the next loop pass


def _fixed_headers(url: URL) -> str:
    """Host, and Basic credentials when the URL carries them (as aiohttp sends them)."""
    host = f"[{url.raw_host}]" if ":" in (url.raw_host or "") else url.raw_host
    authority = host if url.is_default_port() else f"{host}:{url.port}"
    fixed = f"Host: {authority}\r\n"
    if url.user is not None:
        token = base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode()
        fixed += f"Authorization: Basic {token}\r\n"
    return fixed
