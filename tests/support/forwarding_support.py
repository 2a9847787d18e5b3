"""A real upstream for forwarding tests, and helpers to talk to a gateway raw.

`Upstream` records exactly what reached it, so tests assert on what the
upstream saw, and answers slowly, stalled, big or gzip-encoded on request.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from gateway.upstream.forwarder import BUFFER_LIMIT
from tests.conftest import RunningGateway

ERROR_KEYS = {"error", "code", "details", "timestamp"}
BIG = os.urandom(BUFFER_LIMIT * 3 + 17)  # above the buffering limit: streamed
GZIPPED = gzip.compress(b'{"orders": []}' * 100)


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path_qs: str
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class Upstream:
    """A real upstream that records what reached it and answers per path."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def forwarded(self) -> list[Received]:
        """Requests other than the gateway's own owner lookups."""
        return [r for r in self.received if r.path_qs.split("/")[-1] not in self.owners]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            Received(request.method, request.path_qs, CIMultiDict(request.headers), body)
        )
        last = request.path.rsplit("/", 1)[-1]
        if last in self.owners:
            return web.json_response({"data": {"uuid": last, "owner": self.owners[last]}})
        special = {"slow": self._slow, "stall": self._stall, "big": self._big, "gzip": self._gzip}
        if last in special:
            return await special[last](request)
        status = int(request.query.get("respond", "200"))
        headers = {
            "X-Upstream": "yes",
            "Keep-Alive": "timeout=5",
            "Proxy-Authenticate": "Basic",
            "X-Request-ID": "made-by-upstream",
            "X-RateLimit-Limit": "1",
        }
        echo = {"method": request.method, "path": request.path_qs, "length": len(body)}
        return web.json_response(echo, status=status, headers=headers)

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        await asyncio.wait_for(self.release.wait(), 30)
        return web.json_response({})

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 100
        await response.prepare(request)
        await response.write(b'{"partial":')
        await asyncio.wait_for(self.release.wait(), 30)
        return response

    async def _big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if "length" in request.query:
            response.content_length = len(BIG)
        await response.prepare(request)
        for start in range(0, len(BIG), 65536):
            await response.write(BIG[start : start + 65536])
        await response.write_eof()
        return response

    async def _gzip(self, request: web.Request) -> web.StreamResponse:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=GZIPPED, headers=headers)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def error_of(response: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    """Assert the JSON error body and return it."""
    body = await response.json()
    assert response.status == status, body
    assert set(body) >= ERROR_KEYS, body
    assert body["code"] == code, body
    assert isinstance(body["details"], dict)
    assert body["timestamp"].endswith("Z")
    return body


async def raw_exchange(gw: RunningGateway, head: bytes) -> tuple[int, bytes]:
    """Send raw request bytes (what no client library would send); return status and body."""
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), body
