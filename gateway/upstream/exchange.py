"""One request/response exchange on an upstream connection: its own state, apart from the socket.

Like uvicorn's RequestResponseCycle (and h11's per-cycle state), everything
that belongs to one exchange lives here and dies with it; the connection
keeps only what outlives an exchange (transport, parser, timer, flow control).
The answer moves through `Phase` in one direction:

    HEAD --(final head)--> BODY --(end of message)--> DONE
      any phase --(error, limit, unsolicited bytes)--> FAILED

DONE may still turn FAILED: bytes after the end of the answer mean the pairing
of requests and answers on this connection cannot be trusted.
"""

from __future__ import annotations

from collections import deque
from enum import Enum


class UpstreamUnavailable(Exception):
    """Refused, reset or closed before a complete answer, or not HTTP at all."""


class UpstreamTimeout(Exception):
    """No connection, or no byte, from the upstream within `timeout_s`."""


class Phase(Enum):
    HEAD = "head"  # waiting for the final status line and header block
    BODY = "body"  # head known; body bytes arriving
    DONE = "done"  # the whole answer is here
    FAILED = "failed"  # `error` says why; the connection is never reused


# Members as module globals: `phase is DONE` reads a global, where `Phase.DONE`
# costs an enum class lookup (about 0.1 µs, a dozen times per request).
HEAD, BODY, DONE, FAILED = Phase.HEAD, Phase.BODY, Phase.DONE, Phase.FAILED


class Exchange:
    """The state of one exchange: the answer's head, its body chunks, and how it ended."""

    __slots__ = (
        "buffered", "chunks", "codings", "error", "head_only", "headers", "keep_alive", "length",
        "phase", "reason", "received", "request_sent", "status", "streamed",
    )  # fmt: skip

    def __init__(self, head_only: bool, request_sent: bool) -> None:
        self.phase = HEAD
        self.head_only = head_only  # a HEAD request: the answer never has a body
        self.request_sent = request_sent  # False while a streamed request body is still going up
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.length: int | None = None  # declared Content-Length
        self.codings: bytes | None = None  # Transfer-Encoding as received
        self.streamed = False  # body handed on as it arrives (large or unsized)
        self.chunks: deque[bytes] = deque()
        self.buffered = 0  # bytes in `chunks`
        self.received = 0  # bytes received while the head was incomplete
        self.keep_alive = False
        self.error: type[Exception] | None = None
        self.reason = ""

    @property
    def ready(self) -> bool:
        """The requester may go on: the whole answer, or a streamed answer's head."""
        return self.phase is DONE or (self.phase is BODY and self.streamed)

    @property
    def over(self) -> bool:
        """The answer is whole or failed: nothing more goes up or comes down."""
        return self.phase is DONE or self.phase is FAILED

    @property
    def close_delimited(self) -> bool:
        """A body that ends when the upstream closes the connection (no length, not chunked)."""
        return self.phase is BODY and self.length is None and self.codings is None

    def fail(self, error: type[Exception], reason: str) -> None:
        if self.phase is not FAILED:
            self.phase = FAILED
            self.error, self.reason = error, reason

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error(self.reason)

    def take(self) -> bytes:
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        return chunk
