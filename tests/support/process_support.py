"""`walletgate gateway` as a real child process, for signal and crash tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.banners import banner_text

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0


async def start_gateway_process(
    store_url: str, upstream: str, cwd: Path, **extra_env: str
) -> tuple[asyncio.subprocess.Process, str]:
    """`walletgate gateway --upstream URL` as a child process; returns it and its URL."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    environ |= {
        "WALLETGATE_STORE__URL": store_url,
        "WALLETGATE_LISTEN__PORT": "0",
        "WALLETGATE_ADMIN__PORT": "0",
        **extra_env,
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "gateway",
        "--upstream",
        upstream,
        env=environ,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    marker = "walletgate gateway listening on "
    while True:
        line = (await asyncio.wait_for(child.stdout.readline(), START_TIMEOUT_S)).decode()
        if not line:
            _, errors = await child.communicate()
            raise AssertionError(f"gateway did not start: {errors.decode()}")
        line = banner_text(line)
        if line.startswith(marker):
            return child, line[len(marker) :].strip()


async def stop(child: asyncio.subprocess.Process) -> tuple[int, str]:
    child.send_signal(signal.SIGTERM)
    _, errors = await asyncio.wait_for(child.communicate(), STOP_TIMEOUT_S)
    assert child.returncode is not None
    return child.returncode, errors.decode()


@dataclass(frozen=True, slots=True)
class GatewayProcess:
    """`walletgate gateway` as a child: its process, public and admin URLs."""

    child: asyncio.subprocess.Process
    url: str
    admin_url: str

    def worker_pids(self) -> set[int]:
        """The supervisor's children (its workers), read from /proc."""
        pid = self.child.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return {int(child) for child in children}


async def start_gateway_with(environ: dict[str, str], *args: str, cwd: Path) -> GatewayProcess:
    """`walletgate gateway ARGS` with `environ` over a WALLETGATE_-free environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    base |= {"WALLETGATE_LISTEN__PORT": "0", "WALLETGATE_ADMIN__PORT": "0"}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "gateway",
        *args,
        env=base | environ,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    found: dict[str, str] = {}
    markers = {
        "url": "walletgate gateway listening on ",
        "admin_url": "walletgate admin listening on ",
    }
    while len(found) < len(markers):
        line = (await asyncio.wait_for(child.stdout.readline(), START_TIMEOUT_S)).decode()
        if not line:
            _, errors = await child.communicate()
            raise AssertionError(f"gateway did not start: {errors.decode()}")
        line = banner_text(line)
        for name, marker in markers.items():
            if line.startswith(marker):
                found[name] = line[len(marker) :].split()[0].strip()
    return GatewayProcess(child, found["url"], found["admin_url"])
