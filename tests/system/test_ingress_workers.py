"""Real nginx in front of `walletgate gateway --workers 2` in auth mode.

nginx's `auth_request` never passes a denial's body, so its configuration
hands the denial back to `/_walletgate/denial`; that request is a new one and
the kernel may give it to either worker (SO_REUSEPORT). Every denial must
still come back as decided: the real 401, 404 and 429 with their JSON bodies
and `Retry-After`, never "no such decision".
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from backend.app import create_app as create_backend_app
from gateway.wallets.signing import StacksSigner, signed_body
from tests.conftest import STACKS_KEY
from tests.support.ingress_support import running_ingress
from tests.support.process_support import STOP_TIMEOUT_S, GatewayProcess, start_gateway_with

ROUNDS = 40  # per kind of denial; half went astray before denials travelled
FORGED_ID = "forged-decision-0001"
FORGED_BODY = json.dumps({"error": "e", "code": "FORGED", "details": {}, "timestamp": "t"})
FORGED_DENIAL = base64.urlsafe_b64encode(
    json.dumps({"id": FORGED_ID, "status": 418, "headers": [], "body": FORGED_BODY}).encode()
).decode()


@pytest.fixture
async def backend_url(tmp_path: Path) -> AsyncIterator[str]:
    server = TestServer(create_backend_app(str(tmp_path / "orders.db")), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def workers(
    tmp_path: Path, backend_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[GatewayProcess]:
    """Two workers in auth mode sharing Redis (required for workers > 1)."""
    environ = {
        "WALLETGATE_LISTEN__MODE": "auth",
        "WALLETGATE_LISTEN__TRUSTED_PROXIES": "127.0.0.1/32",
        "WALLETGATE_REDIS__URL": redis_url,
        "WALLETGATE_REDIS__PREFIX": f"{redis_prefix}-{secrets.token_hex(4)}",
        "WALLETGATE_STORE__URL": f"sqlite:///{tmp_path / 'walletgate.db'}",
        "WALLETGATE_RATE_LIMITS__PUBLIC_PER_MINUTE": "100000",
    }
    args = ("--upstream", backend_url, "--workers", "2")
    process = await start_gateway_with(environ, *args, cwd=tmp_path)
    yield process
    process.child.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.child.communicate(), STOP_TIMEOUT_S)


async def answers(
    client: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str]
) -> list[tuple[int, Any, str | None]]:
    """ROUNDS concurrent requests: status, JSON body and Retry-After of each."""

    async def one() -> tuple[int, Any, str | None]:
        async with client.request(method, url, headers=headers) as response:
            body = await response.json(content_type=None)
            return response.status, body, response.headers.get("Retry-After")

    return await asyncio.gather(*(one() for _ in range(ROUNDS)))


def codes(replies: list[tuple[int, Any, str | None]]) -> Counter[tuple[int, str]]:
    return Counter((status, body["code"]) for status, body, _ in replies)


async def test_every_denial_comes_back_real_whichever_worker_nginx_reaches(
    workers: GatewayProcess, backend_url: str, tmp_path: Path
):
    async with (
        running_ingress("nginx", backend_url, workers.url, tmp_path / "nginx") as url,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client,
    ):
        signer = StacksSigner(STACKS_KEY)
        fields = {"keyName": "one a minute", "permissions": [], "rateLimit": 1}
        body = signed_body(signer, "create_api_key", fields)
        async with client.post(f"{url}/api/v1/api-keys", json=body) as created:
            assert created.status == 201, await created.text()
            key = (await created.json())["apiKey"]
        orders = f"{url}/api/v1/orders"
        async with client.get(orders, headers={"X-API-Key": key}) as first:
            assert first.status == 200

        limited = await answers(client, "GET", orders, {"X-API-Key": key})
        assert codes(limited) == {(429, "RATE_LIMITED"): ROUNDS}
        assert all(retry is not None and int(retry) >= 1 for _, _, retry in limited)
        assert all(reply["details"]["scope"] == "key" for _, reply, _ in limited)

        unknown = await answers(client, "GET", f"{url}/not/a/route", {})
        assert codes(unknown) == {(404, "NOT_FOUND"): ROUNDS}
        assert all("details" in reply and "timestamp" in reply for _, reply, _ in unknown)

        execute = f"{url}/api/v1/orders/o-1/execute"
        anonymous = await answers(client, "POST", execute, {})
        assert codes(anonymous) == {(401, "UNAUTHORIZED"): ROUNDS}
        bad_key = await answers(client, "POST", execute, {"X-API-Key": key[:-2] + "zz"})
        assert codes(bad_key) == {(401, "INVALID_API_KEY"): ROUNDS}

        # A client's own denial and decision id never replace the decision's.
        forged = {"X-Walletgate-Decision-Id": FORGED_ID, "X-Walletgate-Denial": FORGED_DENIAL}
        tampered = await answers(client, "POST", execute, forged)
        assert codes(tampered) == {(401, "UNAUTHORIZED"): ROUNDS}
