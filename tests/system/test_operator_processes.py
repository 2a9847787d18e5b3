"""The operator API across real `walletgate gateway` processes.

Two processes share Redis and PostgreSQL: a tier set or a key suspended through
the first's operator API reaches the second within 1 s (the change log, polled
every `keys.invalidation_interval_s`, default 0.5 s). One process re-reads its
tiers on SIGHUP, and a tier removed while a wallet is in it falls back to
[rate_limits] with a warning line.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.wallets.signing import StacksSigner, signed_body
from tests.conftest import scale_out_sections
from tests.support.log_support import EchoUpstream, LoggedGateway, start_logged_gateway
from tests.support.operator_support import TOKENS, WRITE_TOKEN
from tests.support.process_support import start_gateway_with

PROPAGATION_S = 1.0  # the product's bound: every instance within 1 s
GENEROUS = {
    "WALLETGATE_RATE_LIMITS__MANAGEMENT_PER_MINUTE": "100000",
    "WALLETGATE_RATE_LIMITS__MANAGEMENT_PER_HOUR": "100000",
    "WALLETGATE_RATE_LIMITS__IP_SIGNED_PER_MINUTE": "100000",
    "WALLETGATE_RATE_LIMITS__PUBLIC_PER_MINUTE": "100000",
    "WALLETGATE_LISTEN__PORT": "0",
    "WALLETGATE_ADMIN__PORT": "0",
    "WALLETGATE_LOG__FORMAT": "json",
}
TOKENS_JSON = json.dumps([{"sha256": t.sha256, "name": t.name, "scope": t.scope} for t in TOKENS])


@pytest.fixture
async def upstream() -> AsyncIterator[EchoUpstream]:
    server = EchoUpstream()
    await server.start()
    yield server
    await server.stop()


async def create_key(
    client: aiohttp.ClientSession, gw: LoggedGateway, signer: StacksSigner
) -> dict:
    body = signed_body(signer, "create_api_key", {"keyName": "mm bot", "permissions": []})
    async with client.post(gw.at("/api/v1/api-keys"), json=body) as response:
        assert response.status == 201, await response.text()
        return dict(await response.json())


async def probe(
    client: aiohttp.ClientSession, gw: LoggedGateway, api_key: str
) -> aiohttp.ClientResponse:
    async with client.get(gw.at("/api/v1/orders"), headers={"X-API-Key": api_key}) as response:
        await response.read()
        return response


async def operator(
    client: aiohttp.ClientSession, gw: LoggedGateway, method: str, path: str, body: Any
) -> dict:
    headers = {"Authorization": f"Bearer {WRITE_TOKEN}"}
    async with client.request(
        method, f"{gw.admin_url}/admin/v1{path}", json=body, headers=headers
    ) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def first_within(bound_s: float, check: Any, *args: Any) -> aiohttp.ClientResponse | None:
    """Poll `check(*args)` until it is true or `bound_s` has passed; the last answer."""
    deadline = time.monotonic() + bound_s
    while True:
        response, ok = await check(*args)
        if ok:
            return response
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.02)


async def test_a_tier_and_a_suspension_reach_the_second_instance_within_1_s(
    tmp_path, upstream, postgres_database, redis_prefix, stacks_signer
):
    async with scale_out_sections(postgres_database, redis_prefix) as sections:
        env = GENEROUS | {
            "WALLETGATE_STORE__URL": sections["store"]["url"],
            "WALLETGATE_REDIS__URL": sections["redis"]["url"],
            "WALLETGATE_REDIS__PREFIX": sections["redis"]["prefix"],
            "WALLETGATE_ADMIN__TOKENS": TOKENS_JSON,
            "WALLETGATE_TIERS__JSON": json.dumps(
                {"market_maker": {"per_minute": 5, "per_hour": 50, "per_day": 500}}
            ),
        }
        first = await start_logged_gateway(tmp_path, upstream.url, env=env)
        second = await start_logged_gateway(tmp_path, upstream.url, env=env)
        try:
            async with aiohttp.ClientSession() as client:
                created = await create_key(client, first, stacks_signer)
                before = await probe(client, second, created["apiKey"])
                assert before.headers["X-RateLimit-Limit"] == "100"

                path = f"/wallets/{stacks_signer.address}/tier"
                await operator(client, first, "PUT", path, {"tier": "market_maker"})

                async def tiered() -> tuple[aiohttp.ClientResponse, bool]:
                    response = await probe(client, second, created["apiKey"])
                    policy = response.headers.get("RateLimit-Policy", "")
                    limited = response.headers.get("X-RateLimit-Limit") == "5"
                    return response, limited and '"hour";q=50;w=3600' in policy

                assert await first_within(PROPAGATION_S, tiered) is not None

                key_path = f"/keys/{created['keyId']}"
                await operator(client, first, "PATCH", key_path, {"status": "suspended"})

                async def refused() -> tuple[aiohttp.ClientResponse, bool]:
                    response = await probe(client, second, created["apiKey"])
                    return response, response.status == 401

                assert await first_within(PROPAGATION_S, refused) is not None
        finally:
            assert await first.stop() == 0
            assert await second.stop() == 0


def _config(tmp_path: Path, tiers: dict[str, dict[str, int]], tokens: Any = TOKENS) -> str:
    lines = [f'[store]\nurl = "sqlite:///{tmp_path / "walletgate.db"}"']
    for token in tokens:
        lines.append("[[admin.tokens]]")
        lines += [
            f'sha256 = "{token.sha256}"',
            f'name = "{token.name}"',
            f'scope = "{token.scope}"',
        ]
    for name, values in tiers.items():
        lines.append(f"[tiers.{name}]")
        lines += [f"{key} = {value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


async def test_tiers_and_tokens_reload_on_sighup_and_a_removed_tier_falls_back_with_a_warning(
    tmp_path, upstream, stacks_signer
):
    config = tmp_path / "walletgate.toml"
    mm = {"per_minute": 5, "per_hour": 50, "per_day": 500}
    config.write_text(_config(tmp_path, {"market_maker": mm}), encoding="utf-8")
    gw = await start_logged_gateway(tmp_path, upstream.url, "--config", str(config), env=GENEROUS)
    try:
        async with aiohttp.ClientSession() as client:
            created = await create_key(client, gw, stacks_signer)
            path = f"/wallets/{stacks_signer.address}/tier"
            await operator(client, gw, "PUT", path, {"tier": "market_maker"})
            assert (await probe(client, gw, created["apiKey"])).headers["X-RateLimit-Limit"] == "5"

            config.write_text(
                _config(tmp_path, {"market_maker": mm | {"per_minute": 3}}), encoding="utf-8"
            )
            await gw.hup()
            applied = await gw.wait_for(lambda r: r["event"] == "reload", "the reload")
            assert applied["applied"] == ["tiers"]
            assert (await probe(client, gw, created["apiKey"])).headers["X-RateLimit-Limit"] == "3"

            config.write_text(_config(tmp_path, {}), encoding="utf-8")
            await gw.hup()
            warning = await gw.wait_for(lambda r: r["event"] == "tier.missing", "the warning")
            assert warning["level"] == "warning" and warning["tier"] == "market_maker"
            assert warning["wallets"] == 1
            fallback = await probe(client, gw, created["apiKey"])
            assert fallback.headers["X-RateLimit-Limit"] == "100"
            assert '"hour";q=1000;w=3600' in fallback.headers["RateLimit-Policy"]

            # A leaked write token is taken out of the file: refused after SIGHUP.
            config.write_text(_config(tmp_path, {}, TOKENS[:1]), encoding="utf-8")
            await gw.hup()
            await gw.wait_for(
                lambda r: r["event"] == "reload" and r["applied"] == ["admin.tokens"], "tokens"
            )
            headers = {"Authorization": f"Bearer {WRITE_TOKEN}"}
            async with client.get(f"{gw.admin_url}/admin/v1/keys", headers=headers) as response:
                assert response.status == 401
    finally:
        assert await gw.stop() == 0


async def test_with_workers_the_supervisor_serves_the_api_and_every_worker_applies_it(
    tmp_path, upstream, postgres_database, redis_prefix, stacks_signer
):
    async with scale_out_sections(postgres_database, redis_prefix) as sections:
        env = {
            "WALLETGATE_STORE__URL": sections["store"]["url"],
            "WALLETGATE_REDIS__URL": sections["redis"]["url"],
            "WALLETGATE_REDIS__PREFIX": sections["redis"]["prefix"],
            "WALLETGATE_ADMIN__TOKENS": TOKENS_JSON,
            "WALLETGATE_TIERS__JSON": json.dumps(
                {"market_maker": {"per_minute": 5, "per_hour": 50, "per_day": 500}}
            ),
        }
        process = await start_gateway_with(
            GENEROUS | env, "--upstream", upstream.url, "--workers", "2", cwd=tmp_path
        )
        gw = LoggedGateway(process.child, process.url, process.admin_url)
        try:
            # One connection per request: the kernel picks a worker for each.
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as client:
                created = await create_key(client, gw, stacks_signer)
                path = f"/wallets/{stacks_signer.address}/tier"
                await operator(client, gw, "PUT", path, {"tier": "market_maker"})

                limits: list[str] = []
                for _ in range(100):  # bounded; the workers poll the change log
                    response = await probe(client, gw, created["apiKey"])
                    limits.append(response.headers["X-RateLimit-Limit"])
                    if limits[-10:] == ["5"] * 10:
                        break
                    await asyncio.sleep(0.05)
                assert limits[-10:] == ["5"] * 10, limits
        finally:
            process.child.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.child.communicate(), 30)
            assert process.child.returncode == 0
