"""The public listener's connections: JSON error bodies and slow-client defences.

aiohttp refuses some requests in its parser, before any middleware runs
(header lines over the size limit, undecodable bytes in the request line);
its default answer is text/plain and an ERROR log with a traceback. Bad
input is routine for a public gateway: it gets our JSON error body and a
debug-level log line instead.

Slow clients (slowloris) are bounded here too, per connection: a request
head must arrive whole within `listen.head_timeout_s`; a request body may not
stall for longer than `listen.body_timeout_s` between two reads; an idle keep-alive
connection closes after `listen.keepalive_timeout_s`; open connections are
capped in total and per client address, an IPv6 client per /64, /56 and /48
(trusted proxies, which carry many clients, count only towards the total).
The admin listener is a plain AppRunner and keeps none of these limits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from gateway.addresses import Network, client_buckets, in_any, parse_network
from gateway.config import ListenSettings
from gateway.errors import ErrorCode, error_body
from gateway.http.context import GATEWAY

log = logging.getLogger("walletgate.http")
SERVER = "walletgate"


def _busy_response() -> bytes:
    body = json.dumps(
        error_body(ErrorCode.SERVICE_UNAVAILABLE, "Too many connections", {"retryAfter": 1})
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


@dataclass(slots=True)
class ConnectionGuard:
    """Counts open connections by client address; refuses beyond the caps;
    closes connections whose request head is late or whose body stalls.

    Both are timed by one sweep over the open connections, a few times per
    the shorter timeout, instead of a timer started and cancelled per request:
    a connection is closed between one and 1.25 timeouts after its head
    began, or after the last bytes of an unfinished body arrived.
    """

    max_total: int
    max_per_ip: int
    head_timeout_s: float
    body_timeout_s: float
    trusted: tuple[Network, ...] = ()
    total: int = 0
    per_ip: Counter[str] = field(default_factory=Counter)
    watched: set[JsonErrorRequestHandler] = field(default_factory=set)
    sweeper: asyncio.TimerHandle | None = None

    @classmethod
    def from_settings(cls, listen: ListenSettings) -> ConnectionGuard:
        trusted = tuple(parse_network(c) for c in listen.trusted_proxies)
        return cls(
            listen.max_connections,
            listen.max_connections_per_ip,
            listen.head_timeout_s,
            listen.body_timeout_s,
            trusted,
        )

    def admit(self, address: str) -> bool:
        """Count one more connection of `address`: per IPv4 address, per IPv6
        /64, /56 and /48 at once (widening caps), so no client holding a
        prefix takes the whole total from everyone else."""
        if self.total >= self.max_total:
            return False
        buckets = client_buckets(address)
        if not in_any(address, self.trusted):
            for bucket, multiple in buckets:
                if self.per_ip[bucket] >= self.max_per_ip * multiple:
                    return False
        self.total += 1
        for bucket, _ in buckets:
            self.per_ip[bucket] += 1
        return True

    def release(self, address: str) -> None:
        self.total -= 1
        for bucket, _ in client_buckets(address):
            self.per_ip[bucket] -= 1
            if self.per_ip[bucket] <= 0:
                del self.per_ip[bucket]

    @property
    def sweep_every_s(self) -> float:
        return min(self.head_timeout_s, self.body_timeout_s) / 4

    def watch(self, handler: JsonErrorRequestHandler, loop: asyncio.AbstractEventLoop) -> None:
        self.watched.add(handler)
        if self.sweeper is None:
            self.sweeper = loop.call_later(self.sweep_every_s, self._sweep, loop)

    def unwatch(self, handler: JsonErrorRequestHandler) -> None:
        self.watched.discard(handler)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sweeper = None
        now = loop.time()
        began_before = now - self.head_timeout_s
        read_before = now - self.body_timeout_s
        for handler in list(self.watched):
            if 0.0 < handler.head_began <= began_before:
                handler.head_timed_out()
            elif handler.body_stalled(now, read_before):
                handler.body_timed_out()
        if self.watched:
            self.sweeper = loop.call_later(self.sweep_every_s, self._sweep, loop)


BUSY_RESPONSE = _busy_response()


class JsonErrorRequestHandler(RequestHandler):
    def __init__(self, manager: Server, guard: ConnectionGuard | None, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._peer_address: str | None = None  # set once admitted
        # Loop time at which the pending request head began; 0.0 when none is pending.
        self.head_began = 0.0
        # Loop time of the last bytes received: a body stalls when this gets old.
        self.last_read = 0.0

    # -- connection caps --------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._guard is not None:
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if peer else ""
            if not self._guard.admit(address):
                assert isinstance(transport, asyncio.Transport)
                transport.write(BUSY_RESPONSE)
                transport.close()
                return
            self._peer_address = address
        super().connection_made(transport)
        if self._guard is not None:
            self.head_began = self._loop.time()
            self._guard.watch(self, self._loop)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._guard is not None:
            if self._peer_address is None:
                return  # refused in connection_made: never registered anywhere
            self._guard.release(self._peer_address)
            self._guard.unwatch(self)
            self._peer_address = None
        self.head_began = 0.0
        super().connection_lost(exc)

    # -- request-head timeout ----------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        # Bytes that arrive between requests start a new head: it must be
        # complete in time. Body bytes (a request in progress) do not.
        self.last_read = now = self._loop.time()
        if not self.head_began and self._current_request is None and not self._messages:
            self.head_began = now
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:
            self.head_began = 0.0

    def head_timed_out(self) -> None:
        self.head_began = 0.0
        if self._current_request is None and not self._messages and not self._force_close:
            log.debug("closed a connection whose request head did not arrive in time")
            self.force_close()

    def body_stalled(self, now: float, read_before: float) -> bool:
        """A request's body is unfinished and nothing has arrived since `read_before`."""
        request = self._current_request
        if request is None or request.content.is_eof():
            return False
        if self._reading_paused or self._buffer_paused:
            # We hold the client back (a full buffer, a slow upstream): not its stall.
            # Its clock restarts from here, once reading resumes.
            self.last_read = now
            return False
        return self.last_read <= read_before

    def body_timed_out(self) -> None:
        # Closing fails the handler's read of the body (a client disconnect):
        # a streamed forward is aborted, so the upstream never gets it whole.
        log.debug("closed a connection whose request body stalled")
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            answer = super().handle_error(request, status, exc, message)
            answer.headers["Server"] = SERVER
            return answer
        # Only the exception's class: its text quotes the offending line, which
        # may hold an API key, a signature or a signed message.
        log.debug(
            "refused malformed request from %s: %s (%s)",
            request.remote,
            type(exc).__name__ if exc is not None else "error",
            status,
        )
        body = error_body(ErrorCode.BAD_REQUEST, "Invalid request", {"reason": "malformed HTTP"})
        response = web.Response(
            status=status,
            text=json.dumps(body),
            content_type="application/json",
            # Answered before the app's signals run: no aiohttp or Python version here either.
            headers={"Server": SERVER},
        )
        response.force_close()
        return response


class JsonErrorServer(Server):
    guard: ConnectionGuard | None = None

    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, self.guard, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """The public listener; `listen` settings come from the app's gateway."""

    def __init__(
        self, app: web.Application, *, listen: ListenSettings | None = None, **kwargs: Any
    ) -> None:
        if listen is None:
            gateway = app.get(GATEWAY)
            listen = gateway.settings.listen if gateway is not None else None
        if listen is not None:
            kwargs.setdefault("keepalive_timeout", listen.keepalive_timeout_s)
        super().__init__(app, **kwargs)
        self._guard = ConnectionGuard.from_settings(listen) if listen is not None else None

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        # Same state, our handler class for every new connection.
        server.__class__ = JsonErrorServer
        assert isinstance(server, JsonErrorServer)
        server.guard = self._guard
        return server
