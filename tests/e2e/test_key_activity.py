"""What each key is doing: every request counted (429s included), the client
addresses it is used from, and a `new_ip` event once per new address, exact
across gateway instances that share a store."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway.keys.audit import EventKind
from gateway.logs import EVENT, FIELDS
from gateway.wallets.signing import StacksSigner, signed_headers
from tests.conftest import Clock, GatewayFactory, RunningGateway, create_api_key, now_ms
from tests.support.rate_limit_support import NOON, call

NO_PERIODIC_FLUSH = {"flush_interval_s": 3600.0}
BEHIND_PROXY = {"trusted_proxies": ["127.0.0.0/8"]}


async def get_from(gw: RunningGateway, api_key: str, address: str) -> int:
    headers = {"X-API-Key": api_key, "X-Forwarded-For": address}
    reply = await call(gw.client, "GET", gw.at("/api/v1/orders"), headers=headers)
    return reply.status


async def shown_key(gw: RunningGateway, signer: StacksSigner, key_id: str) -> dict[str, Any]:
    headers = signed_headers(signer, "get_api_key", {"keyId": key_id}, now_ms=now_ms(gw))
    gw.clock.advance(0.01)
    reply = await call(gw.client, "GET", gw.at(f"/api/v1/api-keys/{key_id}"), headers=headers)
    assert reply.status == 200, reply.body
    return dict(reply.body)


async def test_every_request_made_with_a_key_is_counted_429s_included(
    start_gateway: GatewayFactory, stacks_signer: StacksSigner
) -> None:
    gw = await start_gateway(clock=Clock(now=NOON + 3), usage=NO_PERIODIC_FLUSH)
    created = await create_api_key(gw, stacks_signer, rateLimit=5)
    statuses = [await get_from(gw, created["apiKey"], "127.0.0.1") for _ in range(12)]
    assert sorted(statuses) == [200] * 5 + [429] * 7
    counted = {
        "totalRequests": 12,
        "successfulRequests": 5,
        "failedRequests": 7,
        "rateLimitedRequests": 7,
    }
    shown = (await shown_key(gw, stacks_signer, created["keyId"]))["usageStats"]
    assert {k: shown[k] for k in counted} == counted
    # Nothing was written on the request path; the flush writes the same counts.
    stored = await gw.gw.store.get(created["keyId"])
    assert stored is not None and stored.usage.total_requests == 0
    await gw.gw.keys.flush_usage()
    stored = await gw.gw.store.get(created["keyId"])
    assert stored is not None
    assert {k: stored.usage.to_json()[k] for k in counted} == counted


async def test_client_addresses_and_new_ip_events(
    start_gateway: GatewayFactory, stacks_signer: StacksSigner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="walletgate.audit")
    gw = await start_gateway(
        clock=Clock(now=NOON + 4), usage=NO_PERIODIC_FLUSH, listen=BEHIND_PROXY
    )
    created = await create_api_key(gw, stacks_signer)
    key_id = created["keyId"]
    for address in ("203.0.113.7", "203.0.113.7", "198.51.100.4"):
        assert await get_from(gw, created["apiKey"], address) == 200
    # Shown before the flush, from memory.
    before = (await shown_key(gw, stacks_signer, key_id))["clientIps"]
    assert [(c["ip"], c["requests"]) for c in before] == [("203.0.113.7", 2), ("198.51.100.4", 1)]
    assert before[0]["firstSeen"] == "2030-01-01T12:00:04Z"
    assert await gw.gw.store.list_events(key_id=key_id, limit=10) != []  # `created` only
    assert not [
        e for e in await gw.gw.store.list_events(key_id=key_id) if e.kind == EventKind.NEW_IP
    ]

    await gw.gw.keys.flush_usage()
    assert await get_from(gw, created["apiKey"], "203.0.113.7") == 200
    await gw.gw.keys.flush_usage()
    after = (await shown_key(gw, stacks_signer, key_id))["clientIps"]
    assert {c["ip"]: c["requests"] for c in after} == {"203.0.113.7": 3, "198.51.100.4": 1}
    new_ips = [
        e.client_ip
        for e in await gw.gw.store.list_events(key_id=key_id)
        if e.kind == EventKind.NEW_IP
    ]
    assert sorted(new_ips) == ["198.51.100.4", "203.0.113.7"]  # once per address
    # Each is also a log line, with the address and never the key.
    logged = [r for r in caplog.records if getattr(r, EVENT, None) == "key.new_ip"]
    assert sorted(getattr(r, FIELDS)["client_ip"] for r in logged) == sorted(new_ips)
    assert created["apiKey"] not in caplog.text


async def test_two_gateways_sharing_a_store_count_exactly_and_notice_once(
    start_gateway: GatewayFactory, stacks_signer: StacksSigner
) -> None:
    clock = Clock(now=NOON + 6)
    first = await start_gateway(clock=clock, usage=NO_PERIODIC_FLUSH, listen=BEHIND_PROXY)
    second = await start_gateway(clock=clock, usage=NO_PERIODIC_FLUSH, listen=BEHIND_PROXY)
    created = await create_api_key(first, stacks_signer)
    for gw in (first, second):
        for _ in range(3):
            assert await get_from(gw, created["apiKey"], "192.0.2.44") == 200
    await first.gw.keys.flush_usage()
    await second.gw.keys.flush_usage()
    stored = await first.gw.store.get(created["keyId"])
    assert stored is not None and stored.usage.total_requests == 6
    clients = await first.gw.store.client_ips([created["keyId"]])
    assert [(c.ip, c.requests) for c in clients[created["keyId"]]] == [("192.0.2.44", 6)]
    events = await first.gw.store.list_events(key_id=created["keyId"])
    assert [e.client_ip for e in events if e.kind == EventKind.NEW_IP] == ["192.0.2.44"]
