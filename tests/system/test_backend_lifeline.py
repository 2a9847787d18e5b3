"""`walletgate run` killed with SIGKILL takes its bundled backend with it.

Real processes: the gateway CLI, its backend child, real ports. Without the
lifeline the orphaned backend keeps its port and the next start fails.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from tests.support.services import free_port

START_TIMEOUT_S = 15
# Bounded wait for the orphan to go: polls, never a fixed sleep.
EXIT_POLLS = 200
POLL_S = 0.05


def environment(backend_port: int) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    return clean | {
        "WALLETGATE_LISTEN__PORT": "0",
        "WALLETGATE_ADMIN__PORT": "0",
        "WALLETGATE_BACKEND__PORT": str(backend_port),
    }


async def start_run(tmp_path: Path, backend_port: int) -> tuple[asyncio.subprocess.Process, str]:
    """A `walletgate run` with its three listeners up; returns it and its output so far."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "run",
        cwd=tmp_path,
        env=environment(backend_port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    seen = []
    for _ in range(3):
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        seen.append(line.decode())
    return process, "".join(seen)


def port_is_listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def test_kill_9_of_run_takes_the_backend_down_and_a_new_run_starts(tmp_path: Path):
    backend_port = free_port()
    first, output = await start_run(tmp_path, backend_port)
    try:
        assert f"backend listening on http://127.0.0.1:{backend_port}" in output, output
        assert port_is_listening(backend_port)

        first.send_signal(signal.SIGKILL)
        await first.wait()
        for _ in range(EXIT_POLLS):
            if not port_is_listening(backend_port):
                break
            await asyncio.sleep(POLL_S)
        assert not port_is_listening(backend_port), "the orphaned backend still holds its port"

        second, output = await start_run(tmp_path, backend_port)
        try:
            assert f"backend listening on http://127.0.0.1:{backend_port}" in output, output
        finally:
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), START_TIMEOUT_S) == 0
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
