"""A real Prometheus (Debian's /usr/bin/prometheus) on a private port with temporary
storage, scraping one walletgate admin listener every second with the shipped rules."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.support.ci import missing
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "walletgate.rules.yml"
START_TIMEOUT_S = 30.0


def binary(name: str) -> str:
    """A Prometheus tool from Debian's `prometheus` package (.ci/run installs it)."""
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
    )
    if found is None:
        missing(f"{name} is not installed: apt-get install prometheus")
    return found


@dataclass(frozen=True, slots=True)
class Prometheus:
    url: str

    async def query(self, client: aiohttp.ClientSession, expr: str) -> dict[str, Any]:
        """The API's whole answer (status, data or error) for an instant query."""
        async with client.get(f"{self.url}/api/v1/query", params={"query": expr}) as r:
            answer: dict[str, Any] = await r.json()
            return answer

    async def get(self, client: aiohttp.ClientSession, path: str) -> dict[str, Any]:
        async with client.get(f"{self.url}{path}") as r:
            assert r.status == 200, path
            answer: dict[str, Any] = await r.json()
            return answer


def start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    """Prometheus scraping `target` (host:port of /metrics) as job "walletgate"."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "walletgate", "static_configs": [{"targets": [target]}]}],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


def log_tail(tmp_path: Path) -> str:
    return (tmp_path / "prometheus.log").read_text(errors="replace")[-3000:]


@asynccontextmanager
async def running_prometheus(tmp_path: Path, target: str) -> AsyncIterator[Prometheus]:
    process, url = start_prometheus(tmp_path, target)
    prometheus = Prometheus(url)
    try:
        if not await _ready(prometheus, process):
            raise AssertionError(f"prometheus did not start: {log_tail(tmp_path)}")
        yield prometheus
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 20)


async def _ready(prometheus: Prometheus, process: subprocess.Popen[bytes]) -> bool:
    async with aiohttp.ClientSession() as client:
        for _ in range(int(START_TIMEOUT_S / 0.1)):  # bounded
            if process.poll() is not None:
                return False
            # Not listening yet is the usual answer while it starts: ask again.
            with contextlib.suppress(aiohttp.ClientError):
                async with client.get(f"{prometheus.url}/-/ready") as r:
                    if r.status == 200:
                        return True
            await asyncio.sleep(0.1)
    return False
