"""Faults: a dependency goes away and comes back; the gateway
answers the documented 5xx meanwhile and recovers by itself, leaking nothing.

Redis here is a real `redis-server` of the test's own on a free port, so it
can be stopped and started without touching the machine's shared one.
"""

from __future__ import annotations

import asyncio
import os
import socket

from gateway.wallets.signing import signed_headers
from tests.conftest import create_api_key, create_order, now_ms


async def status_of(gw, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    async with gw.client.request(method, gw.at(path), headers=headers) as response:
        return response.status, await response.json()


async def test_redis_down_then_back_fails_closed_then_recovers(
    start_gateway, private_redis, stacks_signer
):
    gw = await start_gateway(redis={"url": private_redis.url, "prefix": "faults"})
    created = await create_api_key(gw, stacks_signer)
    order = await create_order(gw, stacks_signer, api_key=created["apiKey"])
    key = {"X-API-Key": created["apiKey"]}
    assert (await status_of(gw, "GET", "/api/v1/orders", key))[0] == 200

    private_redis.stop()
    status, body = await status_of(gw, "GET", "/api/v1/orders", key)
    assert (status, body["code"]) == (503, "SERVICE_UNAVAILABLE")
    signed = signed_headers(
        stacks_signer, "execute_order", {"uuid": order["uuid"]}, now_ms=now_ms(gw)
    )
    status, body = await status_of(gw, "POST", f"/api/v1/orders/{order['uuid']}/execute", signed)
    assert status == 503
    async with gw.client.get(gw.admin_url + "/readyz") as ready:
        assert ready.status == 503

    private_redis.start()
    for _ in range(100):  # bounded: the pool reconnects on its own
        status, _ = await status_of(gw, "GET", "/api/v1/orders", key)
        if status == 200:
            break
        await asyncio.sleep(0.05)
    assert status == 200
    gw.clock.advance(0.002)
    signed = signed_headers(
        stacks_signer, "execute_order", {"uuid": order["uuid"]}, now_ms=now_ms(gw)
    )
    status, body = await status_of(gw, "POST", f"/api/v1/orders/{order['uuid']}/execute", signed)
    assert status == 200, body


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_upstream_failures_leak_no_descriptors_or_tasks(start_gateway):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    gw = await start_gateway(
        upstream={"url": f"http://127.0.0.1:{closed}"}, rate_limits={"public_per_minute": 10_000}
    )
    for _ in range(20):  # warm up pools and caches before the baseline
        await status_of(gw, "GET", "/api/v1/orders", {})
    descriptors, tasks = open_descriptors(), len(asyncio.all_tasks())
    for _ in range(300):
        status, body = await status_of(gw, "GET", "/api/v1/orders", {})
        assert (status, body["code"]) == (502, "UPSTREAM_UNAVAILABLE")
    assert open_descriptors() <= descriptors + 5
    assert len(asyncio.all_tasks()) <= tasks + 5
