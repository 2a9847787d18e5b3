"""Forwarder: passes admitted requests to the upstream and its answers back.

One shared ClientSession with a bounded pool (a session per request costs
about two thirds of the throughput). Bodies pass through as bytes
(`auto_decompress=False`), so a Content-Encoding stays true to its body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.errors import ApiError, ErrorCode

# RFC 9110 §7.6.1 hop-by-hop fields, plus what the proxy itself rewrites.
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
# Credentials and identity claims that must never reach the upstream.
CREDENTIALS = frozenset(
    {"x-api-key", "x-message", "x-signature", "x-wallet-address", "x-public-key"}
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


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    """A small upstream answer read whole, for the gateway's own lookups."""

    status: int
    body: Any  # parsed JSON, or None when it was not JSON


def _connection_listed(headers: Mapping[str, str]) -> frozenset[str]:
    listed = headers.get("Connection")
    if not listed:
        return frozenset()
    return frozenset(token.strip().lower() for token in listed.split(","))


def request_headers(incoming: CIMultiDictProxy[str], extra: Mapping[str, str]) -> CIMultiDict[str]:
    """Client headers minus hop-by-hop, credentials and spoofed X-Gateway-*."""
    dropped = _connection_listed(incoming)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        lowered = name.lower()
        if (
            lowered in HOP_BY_HOP
            or lowered in CREDENTIALS
            or lowered in dropped
            or lowered.startswith("x-gateway-")
            or lowered.startswith("x-forwarded-")
        ):
            continue
        out.add(name, value)
    out.update(extra)
    return out


def response_headers(incoming: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    dropped = _connection_listed(incoming)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        lowered = name.lower()
        if lowered in HOP_BY_HOP or lowered in OWN_RESPONSE_HEADERS or lowered in dropped:
            continue
        out.add(name, value)
    return out


class Forwarder:
    def __init__(self, base_url: str, *, timeout_s: float, max_connections: int) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=self._max_connections, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Forwarder used before start()")
        return self._session

    def url_for(self, raw_path: str) -> URL:
        return URL(self.base_url + raw_path, encoded=True)

    async def forward(
        self,
        request: web.Request,
        body: bytes | AsyncIterator[bytes] | None,
        headers: CIMultiDict[str],
    ) -> web.StreamResponse:
        """Send the request upstream; return its answer, streamed when large."""
        try:
            upstream = await self.session.request(
                request.method,
                self.url_for(request.raw_path),
                headers=headers,
                data=body,
                allow_redirects=False,
            )
        except TimeoutError:
            raise upstream_timeout() from None
        except aiohttp.ClientError:
            raise upstream_unavailable() from None
        try:
            return await self._relay(request, upstream)
        finally:
            upstream.release()

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        headers = response_headers(upstream.headers)
        length = upstream.content_length
        if length is not None and length <= BUFFER_LIMIT:
            try:
                payload = await upstream.read()
            except TimeoutError:
                raise upstream_timeout() from None
            except aiohttp.ClientError:
                raise upstream_unavailable() from None
            return web.Response(status=upstream.status, headers=headers, body=payload)
        response = web.StreamResponse(status=upstream.status, headers=headers)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (TimeoutError, aiohttp.ClientError):
            # Headers are gone already: the only honest signal left is to cut
            # the connection so the client sees a truncated answer.
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    async def get_json(self, path: str, headers: Mapping[str, str]) -> UpstreamReply:
        """A small GET for the gateway itself (owner lookups, readiness)."""
        try:
            async with self.session.get(self.url_for(path), headers=headers) as upstream:
                raw = await upstream.read()
        except TimeoutError:
            raise upstream_timeout() from None
        except aiohttp.ClientError:
            raise upstream_unavailable() from None
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        return UpstreamReply(upstream.status, body)


def upstream_unavailable() -> ApiError:
    return ApiError(502, ErrorCode.UPSTREAM_UNAVAILABLE, "Upstream unavailable")


def upstream_timeout() -> ApiError:
    return ApiError(504, ErrorCode.UPSTREAM_TIMEOUT, "Upstream timeout")
