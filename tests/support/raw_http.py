"""HTTP/1.1 over a raw socket: for requests aiohttp's client would normalise
(repeated header lines, exact bytes) and for slow or idle clients."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

READ_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class RawReply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway.test", *(f"{n}: {v}" for n, v in headers)]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_reply(reader: asyncio.StreamReader) -> RawReply:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    length = next((int(v) for n, v in headers if n.lower() == "content-length"), 0)
    body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S) if length else b""
    return RawReply(int(status_line.split()[1]), headers, body)


async def raw_request(
    host: str,
    port: int,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    *,
    local_address: str | None = None,
) -> RawReply:
    """One request on a fresh connection, answer read whole, connection closed."""
    local = (local_address, 0) if local_address else None
    reader, writer = await asyncio.open_connection(host, port, local_addr=local)
    try:
        writer.write(request_bytes(method, path, [*headers, ("Connection", "close")], body))
        await writer.drain()
        return await read_reply(reader)
    finally:
        writer.close()


def host_port(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[1].rstrip("/")
    host, _, port = rest.partition(":")
    return host, int(port)
