"""A raw-socket upstream: it records each request line exactly as it arrived and
answers with whatever bytes a test scripts, framing mistakes included.

aiohttp would normalise what it receives and refuse to send broken answers;
this one does neither, so tests can assert what really reached the upstream
and play a malicious or broken upstream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from multidict import CIMultiDict
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningGateway


@dataclass(frozen=True, slots=True)
class RawRequest:
    method: str
    target: str  # the request target exactly as sent
    headers: CIMultiDict[str]
    body: bytes


# A script gets the request and the connection's writer; it writes the answer.
Script = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[None]]


def answer(status: int, body: bytes, *headers: str) -> bytes:
    """One well-formed answer with a Content-Length."""
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def echo(request: RawRequest) -> bytes:
    """The default answer: 200 naming the target it answers."""
    body = json.dumps({"target": request.target, "length": len(request.body)}).encode()
    return answer(200, body, "Content-Type: application/json")


async def echo_script(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(echo(request))


@dataclass
class RawUpstream:
    script: Script = echo_script
    received: list[RawRequest] = field(default_factory=list)
    connections: int = 0
    url: str = ""
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> RawUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.transport.abort()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                self.received.append(request)
                await self.script(request, writer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    line, *fields = head.decode("latin-1").split("\r\n")[:-2]
    method, target, _ = line.split(" ", 2)
    headers: CIMultiDict[str] = CIMultiDict()
    for field_line in fields:
        name, _, value = field_line.partition(":")
        headers.add(name.strip(), value.strip())
    if "Content-Length" in headers:
        body = await reader.readexactly(int(headers["Content-Length"]))
    elif headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = await read_chunked(reader)
    else:
        body = b""
    return RawRequest(method, target, headers, body)


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")
    return b"".join(parts)


async def raw_request(gw: RunningGateway, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Raw request bytes to the gateway (Connection: close expected); status, headers, body."""
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head_part, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head_part.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    return int(status_line.split()[1]), headers, body


async def metric(gw: RunningGateway, name: str, **labels: str) -> float:
    """One sample from the admin listener's /metrics; 0 when it was never set."""
    async with gw.client.get(gw.admin_url + "/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0
