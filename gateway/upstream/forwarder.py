"""Forwarder: passes admitted requests to the upstream and its answers back.

A failure is the pool's own `UpstreamUnavailable` or `UpstreamTimeout`;
`gateway.http.errors` answers them (502/504).

One shared pool of keep-alive connections, bounded at
`upstream.max_connections` (gateway/upstream/pool.py: leaner than aiohttp's
ClientSession). Bodies pass through as bytes, never decoded, so a
Content-Encoding stays true to its body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.upstream.header_policy import is_stripped
from gateway.upstream.pool import (
    HeadLimits,
    UpstreamPool,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)

# RFC 9110 (section 7.6.1) hop-by-hop fields, plus what the proxy itself rewrites.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# The gateway answers these itself on every response.
OWN_RESPONSE_HEADERS = frozenset(
    {
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-window",
        "ratelimit",
        "ratelimit-policy",
        "x-request-id",
    }
)
# Answers up to this size are read whole: cheaper than streaming small JSON.
BUFFER_LIMIT = 256 * 1024
# The gateway's own lookups read at most this much; beyond it the body is not parsed.
OWN_READ_LIMIT = 4 * BUFFER_LIMIT
# Set on a relayed response whose upstream body broke off after its head was
# sent ("timeout" or "unavailable"): the client saw a cut connection, and the
# request counts as an upstream error, not as the status its head carried.
UPSTREAM_FAILURE = web.ResponseKey("upstream_failure", str)


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    """A small upstream answer read whole, for the gateway's own lookups."""

    status: int
    body: Any  # parsed JSON, or None when it was not JSON


def _connection_listed(listed: str) -> frozenset[str]:
    """The field names a Connection header names (more hop-by-hop fields)."""
    return frozenset(token.strip().lower() for token in listed.split(","))


Headers = list[tuple[str, str]]


def request_headers(incoming: CIMultiDictProxy[str], extra: Headers) -> Headers:
    """Client headers minus hop-by-hop ones and those the header policy strips
    (gateway/upstream/header_policy.py); then the gateway's own `extra`."""
    listed = incoming.get("Connection")
    dropped = _connection_listed(listed) if listed else frozenset()
    out = []
    for name, value in incoming.items():
        lowered = name.lower()
        if lowered in HOP_BY_HOP or lowered in dropped or is_stripped(lowered):
            continue
        out.append((name, value))
    out += extra
    return out


RESPONSE_DROPPED = HOP_BY_HOP | OWN_RESPONSE_HEADERS


def response_headers(incoming: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream's header fields minus hop-by-hop ones and those the gateway sets."""
    kept: list[tuple[str, str]] = []
    listed: list[str] = []
    for name, value in incoming:
        lowered = name.lower()
        if lowered in RESPONSE_DROPPED:
            if lowered == "connection":
                listed.append(value)
            continue
        kept.append((name, value))
    if listed:  # Connection names further hop-by-hop fields (RFC 9110, section 7.6.1)
        dropped = _connection_listed(",".join(listed))
        kept = [(name, value) for name, value in kept if name.lower() not in dropped]
    return kept


class Forwarder:
    """The gateway's upstream: one bounded keep-alive pool (gateway/upstream/pool.py)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        max_connections: int,
        head_limits: HeadLimits | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._head_limits = head_limits or HeadLimits()
        self._pool: UpstreamPool | None = None

    async def start(self) -> None:
        self._pool = UpstreamPool(
            self.base_url,
            timeout_s=self._timeout_s,
            max_connections=self._max_connections,
            buffer_limit=BUFFER_LIMIT,
            head_limits=self._head_limits,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> UpstreamPool:
        if self._pool is None:
            raise RuntimeError("Forwarder used before start()")
        return self._pool

    async def forward(
        self,
        request: web.Request,
        target: str,
        body: bytes | AsyncIterator[bytes] | None,
        headers: Iterable[tuple[str, str]],
        before_relay: Callable[[web.StreamResponse], None],
    ) -> web.StreamResponse:
        """Send the request upstream to `target` (origin-form); its answer, streamed when large.

        A streamed answer's head leaves before this returns: `before_relay`
        adds the gateway's own headers to it first.
        """
        reply = await self.pool.request(request.method, target, headers, body)
        if reply.body is not None:
            return web.Response(
                status=reply.status, headers=response_headers(reply.headers), body=reply.body
            )
        try:
            return await self._relay(request, reply, before_relay)
        finally:
            reply.release()

    async def _relay(
        self,
        request: web.Request,
        reply: UpstreamResponse,
        before_relay: Callable[[web.StreamResponse], None],
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=reply.status, headers=response_headers(reply.headers))
        if reply.length is not None:
            response.content_length = reply.length
        before_relay(response)
        await response.prepare(request)
        try:
            while chunk := await reply.next_chunk():
                await response.write(chunk)
        except (UpstreamTimeout, UpstreamUnavailable) as exc:
            # Headers are gone already: the only honest signal left is to cut
            # the connection so the client sees a truncated answer.
            response[UPSTREAM_FAILURE] = (
                "timeout" if isinstance(exc, UpstreamTimeout) else "unavailable"
            )
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    async def get_json(self, path: str, headers: Iterable[tuple[str, str]]) -> UpstreamReply:
        """A small GET for the gateway itself (owner lookups)."""
        status, raw = await self._get(path, headers)
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        return UpstreamReply(status, body)

    async def probe(self) -> None:
        """Any HTTP answer from the upstream's root means it is there; else an upstream error."""
        await self._get("/", ())

    async def _get(self, path: str, headers: Iterable[tuple[str, str]]) -> tuple[int, bytes | None]:
        """Status and whole body, None when the body passes OWN_READ_LIMIT."""
        reply = await self.pool.request("GET", path, headers, None)
        if reply.body is not None:
            return reply.status, reply.body
        try:
            chunks: list[bytes] = []
            size = 0
            while chunk := await reply.next_chunk():
                size += len(chunk)
                if size > OWN_READ_LIMIT:
                    return reply.status, None
                chunks.append(chunk)
        finally:
            reply.release()
        return reply.status, b"".join(chunks)


def upstream_failure(response: web.StreamResponse) -> str | None:
    """ "timeout" or "unavailable" when a relayed body broke off, else None."""
    # An empty response mapping (the usual case) is answered without the
    # KeyError that Mapping.get raises and catches inside (about 1 µs).
    return response.get(UPSTREAM_FAILURE) if len(response) else None


def relayed_status(response: web.StreamResponse) -> int:
    """The status a relayed answer counts as: 502/504 when its body broke off."""
    failure = upstream_failure(response)
    if failure is None:
        return response.status
    return 504 if failure == "timeout" else 502
