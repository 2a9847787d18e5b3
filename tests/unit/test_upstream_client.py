"""The lean upstream client (gateway/upstream.py) against real servers on loopback.

aiohttp servers answer the ordinary cases and record the client port of the
connection each request came on, so reuse is asserted on what the server
saw; raw asyncio servers play the misbehaving upstreams no library would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from gateway.upstream.forwarder import BUFFER_LIMIT
from gateway.upstream.pool import (
    UpstreamPool,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)

BIG = os.urandom(5 * 1024 * 1024)
PIECES = [b"first piece,", b"", b"second,", os.urandom(3000), b"last"]

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Recorder:
    """A real upstream that records which connection each request came on."""

    peers: list[int] = field(default_factory=list)
    seen: list[web.Request] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/echo", self.echo)
        app.router.add_get("/close", self.close)
        app.router.add_get("/chunked", self.chunked)
        app.router.add_get("/big", self.big)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/busy", self.busy)
        return app

    def _record(self, request: web.Request) -> None:
        assert request.transport is not None
        self.peers.append(request.transport.get_extra_info("peername")[1])
        self.seen.append(request)

    async def echo(self, request: web.Request) -> web.Response:
        self._record(request)
        body = await request.read()
        return web.json_response(
            {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()},
            headers={"X-Kept": "yes", "Keep-Alive": "timeout=5"},
        )

    async def close(self, request: web.Request) -> web.Response:
        self._record(request)
        response = web.Response(text="bye")
        response.force_close()
        return response

    async def chunked(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in PIECES * int(request.query.get("times", "1")):
            await response.write(piece)
        await response.write_eof()
        return response

    async def big(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        response = web.StreamResponse()
        response.content_length = len(BIG)
        await response.prepare(request)
        for start in range(0, len(BIG), 256 * 1024):
            await response.write(BIG[start : start + 256 * 1024])
        await response.write_eof()
        return response

    async def slow(self, request: web.Request) -> web.Response:
        self._record(request)
        await asyncio.wait_for(self.release.wait(), 30)
        return web.Response(text="late")

    async def busy(self, request: web.Request) -> web.Response:
        self._record(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        return web.Response(text="done")


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, str]]:
    """A recording aiohttp upstream and its URL."""
    async with _served(Recorder()) as served:
        yield served


@pytest.fixture
async def short_keepalive() -> AsyncIterator[tuple[Recorder, str]]:
    """A recording upstream that closes idle connections after 50 ms."""
    async with _served(Recorder(), keepalive_timeout=0.05) as served:
        yield served


class _served:
    def __init__(self, rec: Recorder, **options: float) -> None:
        self.rec = rec
        self.runner = web.AppRunner(rec.app(), **options)

    async def __aenter__(self) -> tuple[Recorder, str]:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        return self.rec, f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.rec.release.set()
        await self.runner.cleanup()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[RawHandler], Awaitable[str]]]:
    """Start raw asyncio servers (misbehaving upstreams); returns their URL."""
    servers: list[asyncio.Server] = []

    async def start(handle: RawHandler) -> str:
        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # The client hanging up mid-exchange is what several tests provoke.
            try:
                with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                    await handle(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(guarded, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def open_pool() -> AsyncIterator[Callable[..., UpstreamPool]]:
    pools: list[UpstreamPool] = []

    def make(url: str, *, timeout_s: float = 5.0, max_connections: int = 10) -> UpstreamPool:
        pool = UpstreamPool(
            url, timeout_s=timeout_s, max_connections=max_connections, buffer_limit=BUFFER_LIMIT
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


async def read_all(reply: UpstreamResponse) -> bytes:
    if reply.body is not None:
        return reply.body
    parts = []
    try:
        while chunk := await reply.next_chunk():
            parts.append(chunk)
    finally:
        reply.release()
    return b"".join(parts)


async def get(pool: UpstreamPool, path: str, method: str = "GET", body: bytes | None = None):
    reply = await pool.request(method, path, [("Accept", "application/json")], body)
    return reply.status, dict(reply.headers), await read_all(reply)


async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read one request head (bodies here carry a Content-Length) and answer it."""
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()


# -- keep-alive and the pool -----------------------------------------------------------


async def test_sequential_requests_reuse_one_kept_alive_connection(recorder, open_pool):
    rec, url = recorder
    pool = open_pool(url)
    for method, body in [("GET", None), ("POST", b'{"a": 1}'), ("DELETE", None), ("GET", None)]:
        status, headers, raw = await get(pool, "/echo", method, body)
        assert status == 200
        assert headers["X-Kept"] == "yes"
        assert raw.startswith(b'{"length": ')
    assert len(set(rec.peers)) == 1
    assert pool.idle_connections == 1


async def test_request_head_carries_host_framing_and_headers_as_given(recorder, open_pool):
    rec, url = recorder
    pool = open_pool(url + "/")
    headers = [("X-Mixed-Case", "Value 1"), ("Accept", "*/*")]
    await read_all(await pool.request("POST", "/echo?q=a%2Fb&x=1", headers, None))
    await read_all(await pool.request("POST", "/echo", headers, b"12345"))
    await read_all(await pool.request("GET", "/echo", headers, None))
    empty_post, sized_post, plain_get = rec.seen
    assert empty_post.raw_path == "/echo?q=a%2Fb&x=1"
    assert empty_post.headers["Host"] == url.removeprefix("http://")
    assert empty_post.headers["X-Mixed-Case"] == "Value 1"
    assert empty_post.headers["Content-Length"] == "0"
    assert sized_post.headers["Content-Length"] == "5"
    assert "Content-Length" not in plain_get.headers
    assert "Transfer-Encoding" not in plain_get.headers


async def test_connection_close_from_the_server_means_a_new_connection_next_time(
    recorder, open_pool
):
    rec, url = recorder
    pool = open_pool(url)
    assert (await get(pool, "/close"))[2] == b"bye"
    assert (await get(pool, "/echo"))[0] == 200
    assert (await get(pool, "/echo"))[0] == 200
    first, second, third = rec.peers
    assert first != second
    assert second == third


async def test_pool_never_holds_more_than_max_connections(recorder, open_pool):
    rec, url = recorder
    pool = open_pool(url, max_connections=2)
    results = await asyncio.gather(*(get(pool, "/busy") for _ in range(10)))
    assert [status for status, _, _ in results] == [200] * 10
    assert rec.most_in_flight <= 2
    assert len(set(rec.peers)) <= 2


# -- bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("times", [1, 200])
async def test_chunked_answer_is_dechunked(recorder, open_pool, times):
    _, url = recorder
    pool = open_pool(url)
    reply = await pool.request("GET", f"/chunked?times={times}", (), None)
    assert reply.status == 200
    assert "chunked" in dict(reply.headers)["Transfer-Encoding"]
    assert await read_all(reply) == b"".join(PIECES) * times
    assert (await get(pool, "/echo"))[0] == 200  # the connection stays usable


async def test_large_answer_streams_intact_without_sitting_in_memory(recorder, open_pool):
    _, url = recorder
    pool = open_pool(url)
    reply = await pool.request("GET", "/big", (), None)
    assert reply.body is None
    assert reply.length == len(BIG)
    parts, most_buffered = [], 0
    try:
        while chunk := await reply.next_chunk():
            parts.append(chunk)
            most_buffered = max(most_buffered, reply.buffered)
            await asyncio.sleep(0.001)  # a slow client: reading must pause meanwhile
    finally:
        reply.release()
    assert b"".join(parts) == BIG
    assert most_buffered < 1024 * 1024
    assert (await get(pool, "/echo"))[0] == 200


async def test_large_chunked_request_body_streams_intact(recorder, open_pool):
    rec, url = recorder
    pool = open_pool(url)
    payload = BIG[: 3 * 1024 * 1024 + 7]

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    reply = await pool.request("POST", "/echo", [("Content-Type", "application/x-bin")], pieces())
    assert reply.status == 200
    answer = await read_all(reply)
    assert hashlib.sha256(payload).hexdigest().encode() in answer
    assert rec.seen[0].headers["Transfer-Encoding"] == "chunked"


async def test_head_answer_with_content_length_and_no_body_does_not_hang(recorder, open_pool):
    rec, url = recorder
    pool = open_pool(url)
    reply = await pool.request("HEAD", "/echo", (), None)
    assert reply.status == 200
    assert int(dict(reply.headers)["Content-Length"]) > 0
    assert await read_all(reply) == b""
    status, _, raw = await get(pool, "/echo")  # same connection, parser back in step
    assert status == 200 and raw.startswith(b'{"length": 0')
    assert len(set(rec.peers)) == 1


async def test_interim_answer_is_skipped_for_the_final_one(raw_server, open_pool):
    async def early_hints(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\nX-Final: 1\r\nContent-Length: 4\r\n\r\ndone")
        await writer.drain()

    pool = open_pool(await raw_server(early_hints))
    status, headers, raw = await get(pool, "/")
    assert (status, raw) == (201, b"done")
    assert "Link" not in headers and headers["X-Final"] == "1"


async def test_answer_ended_by_closing_the_connection_is_complete(raw_server, open_pool):
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()

    pool = open_pool(await raw_server(until_close))
    assert (await get(pool, "/"))[2] == b"all of it"
    assert (await get(pool, "/"))[2] == b"all of it"


# -- failures ------------------------------------------------------------------------------


async def test_timeout_is_upstream_timeout_and_the_connection_is_dropped(recorder, open_pool):
    rec, url = recorder
    pool = open_pool(url, timeout_s=0.2)
    assert (await get(pool, "/echo"))[0] == 200
    with pytest.raises(UpstreamTimeout):
        await pool.request("GET", "/slow", (), None)
    assert (await get(pool, "/echo"))[0] == 200
    before, timed_out, after = rec.peers
    assert before == timed_out  # the slow request went on the kept-alive connection
    assert after != timed_out


async def test_connect_refused_is_unavailable(open_pool):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pool = open_pool(f"http://127.0.0.1:{port}", max_connections=1)
    for _ in range(3):  # a failed connect gives its place back
        with pytest.raises(UpstreamUnavailable):
            await pool.request("GET", "/", (), None)


async def test_reset_in_the_middle_of_the_head_is_unavailable(raw_server, open_pool):
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
        await writer.drain()
        writer.transport.abort()

    pool = open_pool(await raw_server(hang_up))
    for method in ("GET", "POST"):  # bytes came: never retried, even when idempotent
        with pytest.raises(UpstreamUnavailable):
            await pool.request(method, "/", (), None)


async def test_garbage_instead_of_http_is_unavailable(raw_server, open_pool):
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        await reader.read()

    pool = open_pool(await raw_server(garbage))
    with pytest.raises(UpstreamUnavailable):
        await pool.request("GET", "/", (), None)


async def test_failed_and_cancelled_requests_give_their_place_back(recorder, open_pool):
    _, url = recorder
    pool = open_pool(url, timeout_s=0.2, max_connections=1)
    for _ in range(2):
        with pytest.raises(UpstreamTimeout):
            await pool.request("GET", "/slow", (), None)
    holder = asyncio.ensure_future(pool.request("GET", "/slow", (), None))
    queued = asyncio.ensure_future(pool.request("GET", "/echo", (), None))
    await asyncio.sleep(0.05)
    for task in (holder, queued):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (await get(pool, "/echo"))[0] == 200


async def test_idle_connection_closed_by_the_server_is_replaced(short_keepalive, open_pool):
    rec, url = short_keepalive
    pool = open_pool(url)
    for method in ("GET", "POST"):
        assert (await get(pool, "/echo"))[0] == 200
        for _ in range(200):  # bounded: until the server's close has reached the pool
            if pool.idle_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert pool.idle_connections == 0
        assert (await get(pool, "/echo", method, b"{}"))[0] == 200
        assert rec.peers[-1] != rec.peers[-2]  # on a new connection


async def test_kept_alive_connection_dropped_unseen_is_retried_only_when_idempotent(
    raw_server, open_pool
):
    connections = 0

    async def one_answer_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal connections
        connections += 1
        await answer_once(reader, writer)
        await reader.readuntil(b"\r\n\r\n")  # the next request: dropped unanswered

    pool = open_pool(await raw_server(one_answer_per_connection))
    assert (await get(pool, "/"))[2] == b"ok"
    assert (await get(pool, "/"))[2] == b"ok"  # its connection died; retried on a fresh one
    assert connections == 2
    with pytest.raises(UpstreamUnavailable):
        await pool.request("POST", "/", (), b"{}")
    assert connections == 2


async def test_header_with_a_line_break_is_refused_before_sending(recorder, open_pool):
    rec, url = recorder
    pool = open_pool(url)
    with pytest.raises(ValueError):
        await pool.request("GET", "/echo", [("X-A", "1\r\nX-Injected: 1")], None)
    assert rec.seen == []


async def test_closed_pool_refuses_and_closes_its_connections(recorder, open_pool):
    _, url = recorder
    pool = open_pool(url)
    assert (await get(pool, "/echo"))[0] == 200
    await pool.close()
    assert pool.idle_connections == 0
    with pytest.raises(UpstreamUnavailable):
        await pool.request("GET", "/echo", (), None)
