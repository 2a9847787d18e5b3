"""An upstream answer as the pool hands it out: whole, or streamed from its connection."""

from __future__ import annotations

from collections.abc import Callable

from gateway.upstream.connection import Connection
from gateway.upstream.exchange import DONE, Exchange


class UpstreamResponse:
    """An upstream answer: `body` when read whole, else streamed by `next_chunk`."""

    __slots__ = ("_conn", "_exchange", "_release", "body", "headers", "length", "status")

    def __init__(
        self,
        exchange: Exchange,
        body: bytes | None,
        conn: Connection | None,
        release: Callable[[Connection], None],
    ) -> None:
        self.status = exchange.status
        self.headers = exchange.headers  # as received, names in their case, hop-by-hop included
        self.length = exchange.length  # the declared Content-Length, if any
        self.body = body
        self._exchange = exchange
        self._conn = conn
        self._release = release  # the pool's: it keeps the connection only if clean

    @property
    def buffered(self) -> int:
        """Bytes received from the upstream and not yet taken by `next_chunk`."""
        return self._exchange.buffered if self._conn is not None else 0

    async def next_chunk(self) -> bytes:
        """The next piece of a streamed body; b"" once it has all been read."""
        conn = self._conn
        if conn is None:
            return b""
        exchange = self._exchange
        while not exchange.chunks:
            if exchange.phase is DONE:
                return b""
            exchange.raise_error()
            await conn.wait()
        return conn.take(exchange)

    def release(self) -> None:
        """Hand the connection back: the pool keeps it only if it is clean."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._release(conn)
