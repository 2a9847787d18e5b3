"""Hourly usage per key by outcome: counted in memory, flushed in batches, pruned."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.keys.history import hour_of
from gateway.wallets.signing import StacksSigner, signed_headers
from tests.conftest import Clock, RunningGateway, create_api_key, now_ms
from tests.support.rate_limit_support import NOON, call

NO_PERIODIC_FLUSH = {"flush_interval_s": 3600.0}


async def shown_hourly(gw: RunningGateway, signer: StacksSigner, key_id: str) -> list[Any]:
    headers = signed_headers(signer, "get_api_key", {"keyId": key_id}, now_ms=now_ms(gw))
    gw.clock.advance(0.01)
    reply = await call(gw.client, "GET", gw.at(f"/api/v1/api-keys/{key_id}"), headers=headers)
    assert reply.status == 200, reply.body
    return list(reply.body["usageStats"]["hourly"])


async def drive(gw: RunningGateway, api_key: str) -> None:
    """2 successes, 1 client error, then the key's limit of 3 per minute: 1 rate-limited."""
    key = {"X-API-Key": api_key}
    for path, expected in (
        ("/api/v1/orders", 200),
        ("/api/v1/orders", 200),
        ("/api/v1/orders/missing/execute", 404),
        ("/api/v1/orders", 429),
    ):
        method = "POST" if path.endswith("execute") else "GET"
        reply = await call(gw.client, method, gw.at(path), headers=key)
        assert reply.status == expected, (path, reply.body)


async def test_hourly_outcomes_are_served_before_and_after_the_flush(start_gateway, stacks_signer):
    gw = await start_gateway(clock=Clock(now=NOON + 5), usage=NO_PERIODIC_FLUSH)
    created = await create_api_key(gw, stacks_signer, rateLimit=3)
    key_id = created["keyId"]
    await drive(gw, created["apiKey"])
    expected = {
        "hour": "2030-01-01T12:00:00Z",
        "success": 2,
        "clientError": 1,
        "rateLimited": 1,
        "serverError": 0,
    }
    since = hour_of(datetime.fromtimestamp(NOON, UTC)) - timedelta(days=1)
    # Not yet in the store: the request path wrote nothing.
    assert await gw.gw.store.hourly_usage([key_id], since) == {}
    assert await shown_hourly(gw, stacks_signer, key_id) == [expected]

    await gw.gw.keys.flush_usage()
    assert len((await gw.gw.store.hourly_usage([key_id], since))[key_id]) == 1
    assert await shown_hourly(gw, stacks_signer, key_id) == [expected]


async def test_hours_older_than_the_history_are_pruned_at_a_flush(start_gateway, stacks_signer):
    gw = await start_gateway(clock=Clock(now=NOON + 5), usage=NO_PERIODIC_FLUSH)
    created = await create_api_key(gw, stacks_signer, rateLimit=3)
    await drive(gw, created["apiKey"])
    await gw.gw.keys.flush_usage()
    gw.clock.advance(8 * 86400)
    reply = await call(
        gw.client, "GET", gw.at("/api/v1/orders"), headers={"X-API-Key": created["apiKey"]}
    )
    assert reply.status == 200
    await gw.gw.keys.flush_usage()
    long_ago = datetime.fromtimestamp(NOON, UTC) - timedelta(days=30)
    stored = await gw.gw.store.hourly_usage([created["keyId"]], long_ago)
    assert [(u.hour.day, u.success) for u in stored[created["keyId"]]] == [(9, 1)]
    shown = await shown_hourly(gw, stacks_signer, created["keyId"])
    assert [h["hour"] for h in shown] == ["2030-01-09T12:00:00Z"]


async def test_keys_show_prints_the_hourly_history(start_gateway, stacks_signer):
    gw = await start_gateway(usage=NO_PERIODIC_FLUSH)
    created = await create_api_key(gw, stacks_signer, rateLimit=3)
    await drive(gw, created["apiKey"])
    await gw.gw.keys.flush_usage()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    environ["WALLETGATE_STORE__URL"] = gw.gw.settings.store.url
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "keys",
        "show",
        created["keyId"],
        "--json",
        env=environ,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 0
    shown = json.loads(out)
    [hour] = shown["usageStats"]["hourly"]
    assert (hour["success"], hour["clientError"], hour["rateLimited"]) == (2, 1, 1)
    assert shown["usageStats"]["rateLimitedRequests"] == 1
    assert [(c["ip"], c["requests"]) for c in shown["clientIps"]] == [("127.0.0.1", 4)]
