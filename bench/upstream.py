"""A minimal upstream that answers instantly, so the proxy in front is the bottleneck.

Raw asyncio protocol on uvloop (when installed), HTTP/1.1 keep-alive, no
framework: it must stay far faster than anything measured through it.

    GET  /api/v1/orders/{uuid}          200 {"status":"success","data":{"uuid":..,"owner":..}}
    POST /api/v1/orders/{uuid}/execute  200 {"status":"success","txid":"0x…"}
    anything else                       404 {"status":"error"}

    python bench/upstream.py [--port 0] [--owner SP…]

Prints `upstream listening on http://127.0.0.1:<port>` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

ORDERS = b"/api/v1/orders/"
EXECUTE = b"/execute"
TXID = "0x" + "ab" * 32
DEFAULT_OWNER = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7"
# Requests larger than this (headers + body) are refused: the bench never sends them.
MAX_REQUEST = 1 << 20


def response(status: bytes, body: bytes, close: bool) -> bytes:
    connection = b"close" if close else b"keep-alive"
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: "
        + connection
        + b"\r\n\r\n"
        + body
    )


class Answers:
    """The fixed bodies, built once; only the order lookup echoes its uuid."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.executed = json.dumps({"status": "success", "txid": TXID}).encode()
        self.not_found = b'{"status":"error","message":"not found"}'

    def answer(self, method: bytes, target: bytes) -> tuple[bytes, bytes]:
        path = target.split(b"?", 1)[0]
        if path.startswith(ORDERS):
            rest = path[len(ORDERS) :]
            if method == b"POST" and rest.endswith(EXECUTE) and b"/" not in rest[: -len(EXECUTE)]:
                return b"200 OK", self.executed
            if method == b"GET" and rest and b"/" not in rest:
                uuid = rest.decode("ascii", "replace")
                data = {"uuid": uuid, "owner": self.owner}
                return b"200 OK", json.dumps({"status": "success", "data": data}).encode()
        return b"404 Not Found", self.not_found


class UpstreamProtocol(asyncio.Protocol):
    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        answered = True
        while answered and self.transport is not None:
            answered = self._answer_one()
        if len(self.buffer) > MAX_REQUEST and self.transport is not None:
            self.transport.close()

    def _answer_one(self) -> bool:
        """Answer the first complete request in the buffer; False when none is complete."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self.buffer[:end].split(b"\r\n")
        length, close, chunked = 0, False, False
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip() or b"0")
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                chunked = True
        assert self.transport is not None
        if chunked:
            # The bench never streams request bodies; refuse rather than misparse.
            self.transport.write(response(b"501 Not Implemented", self.answers.not_found, True))
            self.transport.close()
            self.transport = None
            return False
        total = end + 4 + length
        if len(self.buffer) < total:
            return False
        method, target, *_ = head[0].split(b" ")
        self.buffer = self.buffer[total:]
        status, body = self.answers.answer(method, target)
        self.transport.write(response(status, body, close))
        if close:
            self.transport.close()
            self.transport = None
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int, owner: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    answers = Answers(owner)
    server = await loop.create_server(lambda: UpstreamProtocol(answers), host, port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"upstream listening on http://{host}:{bound}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--owner", default=DEFAULT_OWNER, help="wallet reported as every owner")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.owner))
    else:
        uvloop.run(serve(args.host, args.port, args.owner))


if __name__ == "__main__":
    main()
