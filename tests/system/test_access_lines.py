"""Access lines of a real process under a burst and a SIGTERM: none lost, none split."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.log_support import EchoUpstream, start_logged_gateway

BURST = 400


@pytest.fixture
async def upstream() -> AsyncIterator[EchoUpstream]:
    server = EchoUpstream()
    await server.start()
    yield server
    await server.stop()


def request_ids(text: str, log_format: str) -> list[str]:
    if log_format == "json":
        records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        return [r["request_id"] for r in records if r.get("event") == "request"]
    return [
        line.split(" request_id=", 1)[1].split(" ", 1)[0]
        for line in text.splitlines()
        if " INFO request request_id=" in line
    ]


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_a_burst_then_sigterm_loses_no_access_line(
    tmp_path: Path, upstream: EchoUpstream, log_format: str
) -> None:
    env = {
        "WALLETGATE_STORE__URL": f"sqlite:///{tmp_path / 'walletgate.db'}",
        "WALLETGATE_LISTEN__PORT": "0",
        "WALLETGATE_ADMIN__PORT": "0",
        "WALLETGATE_LOG__ACCESS": "true",
        # The burst comes from one address: room for all of it.
        "WALLETGATE_RATE_LIMITS__PUBLIC_PER_MINUTE": str(BURST * 2),
    }
    gw = await start_logged_gateway(tmp_path, upstream.url, "--log-format", log_format, env=env)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as client:

            async def one(n: int) -> int:
                headers = {"X-Request-ID": f"burst-{n}"}
                async with client.get(gw.at(f"/api/v1/orders/o-{n}"), headers=headers) as r:
                    await r.read()
                    return r.status

            statuses = await asyncio.gather(*(one(n) for n in range(BURST)))
        assert statuses == [200] * BURST
    finally:
        # Stopped at once: lines still pending in the last loop turn must be written.
        assert await gw.stop() == 0
    ids = request_ids(gw.text(), log_format)
    assert sorted(ids) == sorted(f"burst-{n}" for n in range(BURST))
