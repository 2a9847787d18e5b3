"""Helpers shared by the rate-limit, usage, metrics and scale-out tests.

`start_faulty_upstream` runs the real bundled backend with two extra
behaviours on reserved order ids, so one gateway can be driven to a streamed
answer and to a dead connection without touching gateway internals:
- `GET /api/v1/orders/stream-<x>` answers with a chunked (length-less) body;
- `GET /api/v1/orders/reset-<x>` closes the connection without answering.
"""

from __future__ import annotations

import json
import math
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy

from backend.app import create_app as create_backend_app

STREAM_PREFIX = "/api/v1/orders/stream-"
RESET_PREFIX = "/api/v1/orders/reset-"
STREAM_CHUNKS = 8
# 2030-01-01 12:00:00 UTC: a minute, an hour and a day boundary at once.
NOON = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()

_RATE_LIMIT = re.compile(r'^"(?P<name>[^"]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def stream_chunk(index: int) -> bytes:
    return json.dumps({"chunk": index, "pad": "x" * 1000}).encode() + b"\n"


@web.middleware
async def _faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(STREAM_PREFIX):
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/x-ndjson"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for index in range(STREAM_CHUNKS):
            await response.write(stream_chunk(index))
        await response.write_eof()
        return response
    if request.path.startswith(RESET_PREFIX):
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=200)
    return await handler(request)


async def start_faulty_upstream(database: Path) -> TestServer:
    """The bundled backend plus the reserved fault paths, on loopback port 0."""
    app = create_backend_app(str(database))
    app.middlewares.insert(0, _faults)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


def server_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: Any
    raw: bytes


async def call(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Reply:
    """One request; the body parsed as JSON when it is JSON."""
    async with session.request(method, url, **kwargs) as response:
        raw = await response.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return Reply(response.status, response.headers, body, raw)


@dataclass(frozen=True, slots=True)
class Limits:
    """The rate-limit headers of one response, parsed."""

    limit: int
    remaining: int
    reset: int
    window: int
    policy: str
    name: str
    r: int
    t: int


def rate_limit_headers(headers: CIMultiDictProxy[str]) -> Limits:
    found = _RATE_LIMIT.match(headers["RateLimit"])
    assert found is not None, headers["RateLimit"]
    return Limits(
        limit=int(headers["X-RateLimit-Limit"]),
        remaining=int(headers["X-RateLimit-Remaining"]),
        reset=int(headers["X-RateLimit-Reset"]),
        window=int(headers["X-RateLimit-Window"]),
        policy=headers["RateLimit-Policy"],
        name=found["name"],
        r=int(found["r"]),
        t=int(found["t"]),
    )


def next_boundary(now: float, seconds: int) -> int:
    return (int(now) // seconds + 1) * seconds


def policy(*windows: tuple[str, int, int]) -> str:
    return ", ".join(f'"{name}";q={limit};w={seconds}' for name, limit, seconds in windows)


KEY_POLICY = policy(("minute", 100, 60), ("hour", 1000, 3600), ("day", 10000, 86400))
IP_POLICY = policy(("minute", 300, 60))
# The per-IP signing ceiling as the test settings set it (conftest.make_settings).
IP_SIGNED_POLICY = policy(("minute", 10000, 60))


def assert_truthful(reply: Reply, now: float, expected_policy: str) -> Limits:
    """Every rate-limit header is present and agrees with the others and the clock."""
    limits = rate_limit_headers(reply.headers)
    assert limits.policy == expected_policy
    windows = {
        name: (int(q), int(w))
        for name, q, w in re.findall(r'"([^"]+)";q=(\d+);w=(\d+)', expected_policy)
    }
    assert limits.name in windows
    assert windows[limits.name] == (limits.limit, limits.window)
    assert 0 <= limits.remaining <= limits.limit
    assert limits.reset == next_boundary(now, limits.window)
    assert limits.r == limits.remaining
    assert limits.t == math.ceil(limits.reset - now)
    assert "X-Request-ID" in reply.headers
    if reply.status == 429:
        assert int(reply.headers["Retry-After"]) >= 1
    else:
        assert "Retry-After" not in reply.headers
    return limits
