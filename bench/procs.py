"""Child processes of the load benchmark: started pinned, read until ready, always stopped.

Every server prints one line holding its `http://` URL once it listens; the
driver waits for that line (bounded) and stops every child it started,
by its own pid, when it leaves the `Children` context.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_URL = re.compile(r"http://[0-9.]+:\d+")


@dataclass(frozen=True, slots=True)
class Cores:
    """Where the server under test runs and where the load generator and upstream run."""

    server: int | None
    client: int | None

    def describe(self) -> str:
        if self.server is None:
            return "not pinned (fewer than 2 usable cores or no taskset)"
        return f"server under test on CPU {self.server}; wrk and upstream on CPU {self.client}"


def pick_cores() -> Cores:
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(usable) < 2 or shutil.which("taskset") is None:
        return Cores(None, None)
    return Cores(server=usable[-1], client=usable[0])


def pinned(argv: Sequence[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else list(argv)


def free_port() -> int:
    """A loopback port free right now (for nginx, which cannot report port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(slots=True)
class Child:
    name: str
    process: asyncio.subprocess.Process
    url: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid


def rss_mb(pid: int) -> float:
    """Resident set size from /proc, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live children (nginx's worker) so far."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for each in pids:
        # Fields after the parenthesised name; utime and stime are the 14th and 15th.
        fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


class Children:
    """Async context that owns every child process it starts."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    async def __aenter__(self) -> Children:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for child in reversed(self._children):
            await stop(child)
        self._children.clear()

    async def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpu: int | None,
        env: dict[str, str] | None = None,
        ready: str | None = None,
    ) -> Child:
        """Start `argv` pinned to `cpu`; wait for its URL line (or for `ready` to be served)."""
        # Log lines go to stderr from a thread of their own: kept apart from
        # stdout, they can never split the URL line this waits for.
        process = await asyncio.create_subprocess_exec(
            *pinned(argv, cpu),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
        child = Child(name, process)
        self._children.append(child)
        if ready is None:
            child.url = await _read_url(child)
        else:
            child.url = ready
            await _wait_listening(child, ready)
        asyncio.get_running_loop().create_task(_drain(child))
        return child

    async def stop(self, child: Child) -> None:
        await stop(child)
        self._children.remove(child)


async def _read_url(child: Child) -> str:
    assert child.process.stdout is not None
    async with asyncio.timeout(READY_TIMEOUT_S):
        while True:
            raw = await child.process.stdout.readline()
            if not raw:
                raise RuntimeError(f"{child.name} exited: {' | '.join(child.log[-10:])}")
            line = raw.decode(errors="replace").rstrip()
            child.log.append(line)
            found = _URL.search(line)
            if found:
                return found.group(0)


async def _wait_listening(child: Child, url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    async with asyncio.timeout(READY_TIMEOUT_S):
        while True:
            if child.process.returncode is not None:
                raise RuntimeError(f"{child.name} exited with {child.process.returncode}")
            try:
                _, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


async def _drain(child: Child) -> None:
    """Keep reading the child's output so a full pipe never blocks it; keep the tail."""
    assert child.process.stdout is not None
    while True:
        raw = await child.process.stdout.readline()
        if not raw:
            return
        child.log.append(raw.decode(errors="replace").rstrip())
        del child.log[:-50]


async def stop(child: Child) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time; this pid only."""
    process = child.process
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
