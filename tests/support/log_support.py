"""`walletgate gateway` as a child process whose stderr (the log) is collected.

stderr is drained continuously, so a chatty DEBUG log never fills the pipe.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.banners import banner_text

START_TIMEOUT_S = 30.0
WAIT_TIMEOUT_S = 20.0
LISTENING = "walletgate gateway listening on "
ADMIN = "walletgate admin listening on "


@dataclass
class LoggedGateway:
    child: asyncio.subprocess.Process
    url: str
    admin_url: str
    stderr: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    _drain: asyncio.Task[None] | None = None

    def at(self, path: str) -> str:
        return self.url + path

    def text(self) -> str:
        return "".join(self.stderr)

    def records(self) -> list[dict[str, Any]]:
        """Every stderr line that is a JSON object (the json log format)."""
        parsed = []
        for line in self.stderr:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                parsed.append(value)
        return parsed

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("event") == name]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        for _ in range(int(WAIT_TIMEOUT_S / 0.05)):  # bounded
            for record in self.records():
                if predicate(record):
                    return record
            await asyncio.sleep(0.05)
        raise AssertionError(f"no log line for {what}; log:\n{self.text()[-4000:]}")

    async def hup(self) -> None:
        self.child.send_signal(signal.SIGHUP)

    async def stop(self) -> int:
        if self.child.returncode is None:
            self.child.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.child.wait(), START_TIMEOUT_S)
        if self._drain is not None:
            await asyncio.wait_for(self._drain, START_TIMEOUT_S)
        return code


async def _drain(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode("utf-8", "replace"))


def clean_environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    return environ | extra


async def start_logged_gateway(
    cwd: Path, upstream: str, *options: str, env: dict[str, str] | None = None
) -> LoggedGateway:
    """`walletgate [options] gateway --upstream URL`; options go before the command."""
    environ = clean_environ(**(env or {}))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *options,
        "gateway",
        "--upstream",
        upstream,
        env=environ,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    gateway = LoggedGateway(child, "", "")
    gateway._drain = asyncio.create_task(_drain(child.stderr, gateway.stderr))
    while not gateway.admin_url:
        raw = (await asyncio.wait_for(child.stdout.readline(), START_TIMEOUT_S)).decode()
        if not raw:
            await gateway.stop()
            raise AssertionError(f"gateway did not start: {gateway.text()}")
        gateway.stdout.append(raw)
        line = banner_text(raw)
        if line.startswith(LISTENING):
            gateway.url = line[len(LISTENING) :].strip()
        elif line.startswith(ADMIN):
            gateway.admin_url = line[len(ADMIN) :].split()[0]
    return gateway


class EchoUpstream:
    """A tiny upstream that answers every request with 200 and what it saw."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.received: list[str] = []
        self._runner: web.AppRunner | None = None

    async def _answer(self, request: web.Request) -> web.Response:
        self.received.append(request.path)
        return web.json_response({"data": [], "path": request.path})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
