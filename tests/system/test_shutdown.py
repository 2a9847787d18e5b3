"""Shutdown: every resource is closed even when one fails to close.

A real `walletgate gateway` process on a PostgreSQL store with Redis for the
rate limiter and the replay guard. Its usage counts wait for the final flush;
the store's database is dropped under it before SIGTERM, so that flush fails.
The process must still close the upstream pool, the limiter and the replay
guard, say so, and exit 0 instead of hanging.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from backend.app import create_app as create_backend_app
from gateway.wallets.signing import StacksSigner, sign_order, signed_body
from tests.conftest import POSTGRES_ADMIN_DSN, order_body
from tests.support.process_support import STOP_TIMEOUT_S, start_gateway_process


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def doomed_database() -> AsyncIterator[tuple[str, str]]:
    """(name, URL) of a PostgreSQL database the test drops while the gateway uses it."""
    name = f"wg_doomed_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    yield name, f"postgresql://postgres@127.0.0.1:5432/{name}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def backend_url(tmp_path: Path) -> AsyncIterator[str]:
    server = TestServer(create_backend_app(str(tmp_path / "orders.db")), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def _use_a_key(url: str, signer: StacksSigner) -> None:
    """Create a key and place one order with it, so usage waits for the next flush."""
    async with aiohttp.ClientSession() as client:
        body = signed_body(signer, "create_api_key", {"keyName": "bot"})
        async with client.post(f"{url}/api/v1/api-keys", json=body) as response:
            assert response.status == 201, await response.text()
            api_key = (await response.json())["apiKey"]
        order = sign_order(signer, order_body(signer.address))
        headers = {"X-API-Key": api_key}
        async with client.post(f"{url}/api/v1/orders/new", json=order, headers=headers) as reply:
            assert reply.status == 201, await reply.text()


async def test_a_failing_final_flush_closes_everything_else_and_exits_0(
    tmp_path, backend_url, doomed_database, redis_url, redis_prefix, stacks_signer
):
    name, store_url = doomed_database
    child, url = await start_gateway_process(
        store_url,
        backend_url,
        tmp_path,
        WALLETGATE_REDIS__URL=redis_url,
        WALLETGATE_REDIS__PREFIX=f"{redis_prefix}-shutdown",
        # Only the final flush at shutdown writes the usage.
        WALLETGATE_USAGE__FLUSH_INTERVAL_S="3600",
    )
    await _use_a_key(url, stacks_signer)
    await _admin(f'DROP DATABASE "{name}" WITH (FORCE)')

    child.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(child.communicate(), STOP_TIMEOUT_S)
    errors = err.decode()
    assert child.returncode == 0, errors
    assert "closing the key service failed: StoreError" in errors
    # Closed in the reverse order of opening, each on its own: the failed
    # flush (reported last) kept none of the others open.
    assert _stopped_line(out.decode()).startswith(
        "closed upstream pool, rate limiter, replay guard, key store, metrics, "
        "key service (failed: StoreError"
    )


def _stopped_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("walletgate stopped: ")]
    assert len(lines) == 1, stdout
    return lines[0].removeprefix("walletgate stopped: ")
