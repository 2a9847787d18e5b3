"""Usage statistics: exact counts, batched off the request
path, flushed on SIGTERM, and still there after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from backend.app import create_app as create_backend_app
from gateway.keys.store import open_store
from gateway.wallets.signing import StacksSigner, signed_headers
from tests.conftest import Clock, RunningGateway, create_api_key, create_order, now_ms
from tests.support.process_support import start_gateway_process, stop
from tests.support.rate_limit_support import NOON, Reply, call, server_url

ORDERS = "/api/v1/orders"
NO_PERIODIC_FLUSH = {"flush_interval_s": 3600.0}


def usage(successes: int, failures: int) -> dict[str, int]:
    """The usageStats of a key that made only order executions."""
    return {
        "totalRequests": successes + failures,
        "successfulRequests": successes,
        "failedRequests": failures,
        "creationCount": 0,
        "executionCount": successes,
        "cancellationCount": 0,
        "rateLimitedRequests": 0,
    }


async def execute(client: aiohttp.ClientSession, base: str, api_key: str, uuid: str) -> Reply:
    url = f"{base}{ORDERS}/{uuid}/execute"
    return await call(client, "POST", url, headers={"X-API-Key": api_key})


async def drive_executes(
    gw: RunningGateway, signer: StacksSigner, api_key: str, successes: int, failures: int
) -> None:
    """`successes` executes that fill an order, `failures` that are refused.

    Orders are created with the wallet's signature alone, so the key counts
    nothing but the executes.
    """
    orders = [await create_order(gw, signer) for _ in range(successes)]
    for order in orders:
        reply = await execute(gw.client, gw.url, api_key, order["uuid"])
        assert reply.status == 200, reply.body
    for index in range(failures):
        # Alternate an upstream refusal (already filled) and a gateway one (unknown).
        uuid = orders[index % len(orders)]["uuid"] if index % 2 == 0 else f"missing-{index}"
        reply = await execute(gw.client, gw.url, api_key, uuid)
        assert reply.status in (400, 404), reply.body


async def stored_usage(gw: RunningGateway, key_id: str) -> dict[str, int]:
    key = await gw.gw.store.get(key_id)
    assert key is not None
    return key.usage.to_json()


async def listed_usage(gw: RunningGateway, signer: StacksSigner, key_id: str) -> dict[str, int]:
    headers = signed_headers(signer, "list_api_keys", {}, now_ms=now_ms(gw))
    reply = await call(gw.client, "GET", gw.at("/api/v1/api-keys"), headers=headers)
    assert reply.status == 200, reply.body
    (listed,) = [k for k in reply.body["apiKeys"] if k["id"] == key_id]
    # The hourly history has its own tests (test_usage_history.py).
    return {k: v for k, v in listed["usageStats"].items() if k != "hourly"}


async def test_usage_equals_successes_and_failures_after_a_flush(start_gateway, stacks_signer):
    gw = await start_gateway(clock=Clock(now=NOON + 7), usage=NO_PERIODIC_FLUSH)
    created = await create_api_key(gw, stacks_signer)
    await drive_executes(gw, stacks_signer, created["apiKey"], successes=4, failures=3)
    # Requests that fail authentication belong to no key.
    stranger = await execute(gw.client, gw.url, created["apiKey"][:-4], "any")
    assert stranger.status == 401

    # Counted in memory only: the request path wrote nothing to the store.
    assert await stored_usage(gw, created["keyId"]) == usage(0, 0)
    await gw.gw.keys.flush_usage()

    assert await stored_usage(gw, created["keyId"]) == usage(4, 3)
    assert await listed_usage(gw, stacks_signer, created["keyId"]) == usage(4, 3)
    key = await gw.gw.store.get(created["keyId"])
    assert key is not None and key.last_used_at is not None
    assert key.last_used_at.timestamp() == int(NOON + 7)


async def test_usage_flushes_in_batches_without_being_asked(start_gateway, stacks_signer):
    gw = await start_gateway(clock=Clock(now=NOON + 8))
    created = await create_api_key(gw, stacks_signer)
    await drive_executes(gw, stacks_signer, created["apiKey"], successes=2, failures=2)
    for _ in range(100):  # the batch interval is 0.2 s here; bounded wait
        if await stored_usage(gw, created["keyId"]) == usage(2, 2):
            break
        await asyncio.sleep(0.05)
    assert await stored_usage(gw, created["keyId"]) == usage(2, 2)


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[TestServer]:
    server = TestServer(create_backend_app(str(tmp_path / "sigterm-orders.db")), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_sigterm_flushes_usage_and_counts_survive_a_restart(
    tmp_path, backend, start_gateway, stacks_signer
):
    store_url = f"sqlite:///{tmp_path / 'walletgate.db'}"  # the store start_gateway uses too
    child, url = await start_gateway_process(
        store_url, server_url(backend), tmp_path, WALLETGATE_USAGE__FLUSH_INTERVAL_S="3600"
    )
    try:
        async with aiohttp.ClientSession() as client:
            # The helpers need only a client, a URL and a clock.
            process = RunningGateway(
                client=client,
                url=url,
                admin_url="",
                backend_url=server_url(backend),
                app=web.Application(),
                clock=Clock(),
            )
            created = await create_api_key(process, stacks_signer)
            await drive_executes(process, stacks_signer, created["apiKey"], successes=3, failures=2)
    finally:
        code, errors = await stop(child)
    assert code == 0, errors

    store = open_store(store_url)
    await store.open()
    try:
        key = await store.get(created["keyId"])
    finally:
        await store.close()
    assert key is not None
    assert key.usage.to_json() == usage(3, 2)
    assert key.last_used_at is not None

    restarted = await start_gateway()
    assert await listed_usage(restarted, stacks_signer, created["keyId"]) == usage(3, 2)
