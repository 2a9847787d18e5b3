"""Slowloris and idle connections on the public listener, with raw sockets.

Loopback has a whole /8: slow clients connect from 127.0.0.2, legitimate
ones from 127.0.0.3, so per-address caps are seen apart. Bounded: every wait
has a ceiling and none is an assertion on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from gateway.config import RouteSettings
from tests.support.raw_http import host_port, raw_request, read_reply, request_bytes

SLOW, LEGIT = "127.0.0.2", "127.0.0.3"
CEILING_S = 10.0
LISTEN = {
    "head_timeout_s": 1.0,
    "body_timeout_s": 1.0,
    "keepalive_timeout_s": 1.5,
    "max_connections_per_ip": 8,
    "max_connections": 50,
}


async def open_from(url: str, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = host_port(url)
    return await asyncio.open_connection(host, port, local_addr=(source, 0))


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent until it closed the connection (bounded)."""
    return await asyncio.wait_for(reader.read(), CEILING_S)


async def test_a_request_head_that_trickles_in_is_cut_off(start_gateway):
    gw = await start_gateway(listen=LISTEN)
    reader, writer = await open_from(gw.url, SLOW)
    stop = asyncio.Event()

    async def trickle() -> None:
        for byte in b"GET /api/v1/orders HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            if stop.is_set():
                return
            with contextlib.suppress(ConnectionError):
                writer.write(bytes([byte]))
            await asyncio.sleep(0.1)

    dripping = asyncio.create_task(trickle())
    try:
        sent = await closed_by_server(reader)
    finally:
        stop.set()
        await dripping
        writer.close()
    assert b"200 OK" not in sent


def _body_head(length: int) -> bytes:
    # Key creation reads its whole (signed) body before anything else.
    return (
        f"POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def test_a_request_body_that_stalls_is_cut_off(start_gateway):
    gw = await start_gateway(listen=LISTEN)
    reader, writer = await open_from(gw.url, SLOW)
    try:
        writer.write(_body_head(200) + b'{"message": ')  # and never the rest
        sent = await closed_by_server(reader)
    finally:
        writer.close()
    assert sent == b""
    # The listener still serves everyone else.
    host, port = host_port(gw.url)
    reply = await raw_request(host, port, "GET", "/api/v1/orders", [], local_address=LEGIT)
    assert reply.status == 200
    # Counted as the client closing its request (nginx's 499), never as a 500.
    for _ in range(50):  # bounded: the handler learns of the close asynchronously
        async with gw.client.get(gw.admin_url + "/metrics") as scrape:
            metrics = await scrape.text()
        counted = [n for n in metrics.splitlines() if n.startswith("walletgate_requests_total")]
        if any('status="499"' in line for line in counted):
            break
        await asyncio.sleep(0.05)
    assert any('status="499"' in line and "api-keys" in line for line in counted), counted
    assert not any('status="500"' in line for line in counted), counted


async def test_a_body_that_keeps_arriving_is_not_cut_however_long_it_takes(start_gateway):
    gw = await start_gateway(listen=LISTEN)
    body = b'{"message": "' + b"x" * 60 + b'", "signature": "00", "walletAddress": "nobody"}'
    reader, writer = await open_from(gw.url, LEGIT)
    try:
        writer.write(_body_head(len(body)))
        # Eight pieces 0.3 s apart: longer than the body timeout in all, never
        # stalled for as long as it.
        for start in range(0, len(body), 16):
            await asyncio.sleep(0.3)
            writer.write(body[start : start + 16])
        reply = await read_reply(reader)
    finally:
        writer.close()
    assert reply.status == 400  # an answer on its merits: the body arrived whole


async def test_a_body_the_gateway_holds_back_is_not_taken_for_a_stalled_one(start_gateway):
    # The upstream reads nothing for longer than the body timeout, and the body
    # is far larger than every buffer on the way: the gateway stops reading
    # from the client (backpressure), which must not count as the client stalling.
    body = b"x" * (24 << 20)
    held_s = 3 * LISTEN["body_timeout_s"]
    received: list[int] = []

    async def slow_reader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A cut connection ends the exchange early; the assertions below see it.
        with (
            contextlib.closing(writer),
            contextlib.suppress(ConnectionError, asyncio.IncompleteReadError),
        ):
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(held_s)
            data = await reader.readexactly(len(body))
            received.append(len(data))
            answer = json.dumps({"length": len(data)}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                + answer
            )
            await writer.drain()

    upstream = await asyncio.start_server(slow_reader, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    try:
        gw = await start_gateway(
            listen=LISTEN,
            limits={"max_body_bytes": len(body)},
            upstream={"url": f"http://127.0.0.1:{port}", "timeout_s": CEILING_S},
            routes=[RouteSettings("POST", "/upload", public=True)],
        )
        reader, writer = await open_from(gw.url, LEGIT)
        try:
            head = f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            await asyncio.wait_for(writer.drain(), CEILING_S)
            reply = await asyncio.wait_for(read_reply(reader), CEILING_S)
        finally:
            writer.close()
    finally:
        upstream.close()
        await upstream.wait_closed()
    assert reply.status == 200
    assert json.loads(reply.body) == {"length": len(body)}
    assert received == [len(body)]


async def test_an_idle_keep_alive_connection_is_closed(start_gateway):
    gw = await start_gateway(listen=LISTEN)
    reader, writer = await open_from(gw.url, LEGIT)
    try:
        writer.write(request_bytes("GET", "/api/v1/orders", []))
        assert (await read_reply(reader)).status == 200
        assert await closed_by_server(reader) == b""
    finally:
        writer.close()


async def test_slow_clients_cannot_starve_legitimate_ones(start_gateway):
    gw = await start_gateway(listen=LISTEN)
    held = [await open_from(gw.url, SLOW) for _ in range(12)]
    try:
        for _, writer in held:
            writer.write(b"GET /api/v1/orders HTTP/1.1\r\n")  # and never more
        # Beyond the per-address cap, connections are answered 503 and closed.
        refused = [await closed_by_server(reader) for reader, _ in held[8:]]
        assert all(answer.startswith(b"HTTP/1.1 503 ") for answer in refused)
        assert all(b"SERVICE_UNAVAILABLE" in answer for answer in refused)

        host, port = host_port(gw.url)
        served = [
            await raw_request(host, port, "GET", "/api/v1/orders", [], local_address=LEGIT)
            for _ in range(6)
        ]
        assert [reply.status for reply in served] == [200] * 6
        # The admin listener keeps no such limits.
        async with gw.client.get(gw.admin_url + "/healthz") as health:
            assert health.status == 200
    finally:
        for _, writer in held:
            writer.close()


async def test_the_total_connection_cap_refuses_with_503(start_gateway):
    gw = await start_gateway(listen=LISTEN | {"max_connections": 3, "max_connections_per_ip": 10})
    held = [await open_from(gw.url, SLOW) for _ in range(3)]
    try:
        reader, writer = await open_from(gw.url, LEGIT)
        answer = await closed_by_server(reader)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ")
    finally:
        for _, held_writer in held:
            held_writer.close()
    # Once they are gone, the slots are free again.
    host, port = host_port(gw.url)
    for _ in range(50):  # bounded: the server sees the closes asynchronously
        reply = None
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            reply = await raw_request(host, port, "GET", "/api/v1/orders", [], local_address=LEGIT)
        if reply is not None and reply.status == 200:
            break
        await asyncio.sleep(0.05)
    assert reply is not None and reply.status == 200
