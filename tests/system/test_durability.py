"""Durability: what a client was told survives `kill -9`.

The gateway runs as a real child process on a SQLite store; the test kills it
with SIGKILL (no shutdown code runs) and then reads the store file directly.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from backend.app import create_app as create_backend_app
from gateway.keys.store import open_store
from gateway.wallets.signing import StacksSigner, sign_order, signed_body
from tests.conftest import order_body
from tests.support.process_support import start_gateway_process

GENEROUS_MANAGEMENT = {
    "WALLETGATE_RATE_LIMITS__MANAGEMENT_PER_MINUTE": "100000",
    "WALLETGATE_RATE_LIMITS__MANAGEMENT_PER_HOUR": "100000",
    "WALLETGATE_RATE_LIMITS__IP_SIGNED_PER_MINUTE": "100000",
    "WALLETGATE_RATE_LIMITS__IP_KEY_CREATION_PER_MINUTE": "100000",
    "WALLETGATE_RATE_LIMITS__IP_KEY_CREATION_PER_HOUR": "100000",
    "WALLETGATE_KEYS__MAX_ACTIVE_PER_WALLET": "100000",
}


@pytest.fixture
async def backend_url(tmp_path: Path) -> AsyncIterator[str]:
    server = TestServer(create_backend_app(str(tmp_path / "orders.db")), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


def kill_hard(child: asyncio.subprocess.Process) -> None:
    child.send_signal(signal.SIGKILL)


def integrity(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


async def stored_key_ids(store_url: str) -> set[str]:
    store = open_store(store_url)
    await store.open()
    try:
        return {key.id for key in await store.list_keys(limit=100_000)}
    finally:
        await store.close()


async def create_key(client: aiohttp.ClientSession, url: str, signer: StacksSigner, n: int) -> str:
    body = signed_body(signer, "create_api_key", {"keyName": f"bot {n}", "permissions": []})
    async with client.post(f"{url}/api/v1/api-keys", json=body) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["keyId"]


async def test_key_returned_to_a_client_survives_kill_9_right_after(
    tmp_path, backend_url, stacks_signer
):
    store_url = f"sqlite:///{tmp_path / 'walletgate.db'}"
    child, url = await start_gateway_process(store_url, backend_url, tmp_path)
    async with aiohttp.ClientSession() as client:
        key_id = await create_key(client, url, stacks_signer, 1)
        kill_hard(child)
    await child.wait()
    assert key_id in await stored_key_ids(store_url)
    assert integrity(tmp_path / "walletgate.db") == "ok"


async def test_store_is_intact_after_a_crash_under_write_load(tmp_path, backend_url):
    store_url = f"sqlite:///{tmp_path / 'walletgate.db'}"
    child, url = await start_gateway_process(
        store_url, backend_url, tmp_path, **GENEROUS_MANAGEMENT
    )
    signers = [StacksSigner(f"{n + 1:064x}01") for n in range(8)]
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def keep_creating(signer: StacksSigner, client: aiohttp.ClientSession) -> None:
        for n in range(1000):
            try:
                acknowledged.append(await create_key(client, url, signer, n))
            except aiohttp.ClientError:
                return  # the gateway died under us: what it acknowledged must remain
            if len(acknowledged) >= 40:
                enough.set()

    async with aiohttp.ClientSession() as client:
        writers = [asyncio.create_task(keep_creating(s, client)) for s in signers]
        await asyncio.wait_for(enough.wait(), 30)
        kill_hard(child)
        await asyncio.gather(*writers)
    await child.wait()
    assert integrity(tmp_path / "walletgate.db") == "ok"
    assert set(acknowledged) <= await stored_key_ids(store_url)


async def test_usage_loses_at_most_the_last_flush_interval_on_a_crash(
    tmp_path, backend_url, stacks_signer
):
    store_url = f"sqlite:///{tmp_path / 'walletgate.db'}"
    child, url = await start_gateway_process(
        store_url, backend_url, tmp_path, WALLETGATE_USAGE__FLUSH_INTERVAL_S="0.2"
    )
    async with aiohttp.ClientSession() as client:
        body = signed_body(stacks_signer, "create_api_key", {"keyName": "bot"})
        async with client.post(f"{url}/api/v1/api-keys", json=body) as response:
            created = await response.json()
        headers = {"X-API-Key": created["apiKey"]}
        for _ in range(5):
            order = sign_order(stacks_signer, order_body(stacks_signer.address))
            async with client.post(f"{url}/api/v1/orders/new", json=order, headers=headers) as r:
                assert r.status == 201
        # More than one flush interval passes before the crash.
        await asyncio.sleep(0.8)
        kill_hard(child)
    await child.wait()
    store = open_store(store_url)
    await store.open()
    try:
        key = await store.get(created["keyId"])
    finally:
        await store.close()
    assert key is not None
    assert key.usage.total_requests == 5
    assert key.usage.creation_count == 5
