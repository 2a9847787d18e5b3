"""Real nginx, Caddy and Traefik in front of the bundled backend, walletgate deciding (auth mode).

The configurations are the ones `walletgate ingress` prints, run unchanged
(nginx gets private temp paths, Traefik a private dynamic file). Through them
a client creates a key, creates orders, executes by key and by signed
headers, and meets walletgate's own
denials: 403 with details, 429 with Retry-After, 401 for a revoked key, 404
and 400 with their JSON bodies; the backend receives the identity walletgate
decided and never the client's credentials.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.wallets.signing import signed_body, signed_headers
from tests.conftest import RunningGateway, create_api_key, create_order, now_ms
from tests.support.ingress_support import running_ingress
from tests.support.key_api import Reply, assert_error, call, tick

RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


# Traefik's forwardAuth copies decision headers onto the forwarded request
# only: an allowed answer carries no rate-limit headers (docs/ingress.md).
ALLOWS_WITHOUT_RATE_LIMIT_HEADERS = {"traefik"}


@pytest.fixture(params=["nginx", "caddy", "traefik"])
async def ingress(request, start_gateway, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    """The gateway in auth mode behind a real ingress; `url` is the ingress's."""
    gw = await start_gateway(listen={"mode": "auth", "trusted_proxies": ("127.0.0.1/32",)})
    root = tmp_path / request.param
    async with running_ingress(request.param, gw.backend_url, gw.url, root) as url:
        yield dataclasses.replace(gw, url=url)


@pytest.fixture
def allowed_carry_limits(request) -> bool:
    """Whether this ingress hands the decision's rate-limit headers to an allowed answer."""
    return request.node.callspec.params["ingress"] not in ALLOWS_WITHOUT_RATE_LIMIT_HEADERS


def upstream_saw(gw: RunningGateway, path: str) -> dict[str, str]:
    (seen,) = [r for r in gw.backend_requests if r["path"] == path]
    return {name.lower(): value for name, value in seen["headers"].items()}


def assert_rate_limit_headers(reply: Reply) -> None:
    for name in (*RATE_LIMIT_HEADERS, "RateLimit", "RateLimit-Policy", "X-Request-ID"):
        assert reply.headers.get(name), (name, dict(reply.headers))
    assert len(reply.headers.getall("X-RateLimit-Limit")) == 1


async def test_keys_orders_and_executions_go_through_the_ingress(
    ingress, stacks_signer, allowed_carry_limits
):
    gw = ingress
    key = await create_api_key(gw, stacks_signer)
    order = await create_order(gw, stacks_signer, api_key=key["apiKey"])
    path = f"/api/v1/orders/{order['uuid']}/execute"
    body = json.dumps({"note": "through the ingress"})
    headers = {
        "X-API-Key": key["apiKey"],
        "X-Gateway-Wallet": "SPFORGED",
        "Content-Type": "application/json",
    }
    async with gw.client.post(gw.at(path), data=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["txid"].startswith("0x")
        if allowed_carry_limits:
            assert_rate_limit_headers(Reply(response.status, None, response.headers, ""))
            assert response.headers["X-RateLimit-Limit"] == "100"
        else:
            assert not set(RATE_LIMIT_HEADERS) & set(response.headers), dict(response.headers)
    saw = upstream_saw(gw, path)
    assert saw["x-gateway-wallet"] == stacks_signer.address
    assert saw["x-gateway-key-id"] == key["keyId"]
    assert saw["x-gateway-auth"] == "api_key"
    assert saw["content-length"] == str(len(body))
    assert "x-api-key" not in saw

    second = await create_order(gw, stacks_signer)  # wallet-only creation
    signed_path = f"/api/v1/orders/{second['uuid']}/execute"
    tick(gw)
    signed = signed_headers(
        stacks_signer, "execute_order", {"uuid": second["uuid"]}, now_ms=now_ms(gw)
    )
    reply = await call(gw, "POST", signed_path, headers=signed)
    assert reply.status == 200, reply.text
    saw = upstream_saw(gw, signed_path)
    assert saw["x-gateway-auth"] == "signature"
    assert saw["x-gateway-wallet"] == stacks_signer.address
    assert not {"x-signature", "x-message", "x-wallet-address", "x-gateway-key-id"} & set(saw)

    # Any Host name reaches the configuration (clients use the public name).
    public = await call(
        gw, "GET", f"/api/v1/orders/{order['uuid']}", headers={"Host": "api.example.test"}
    )
    assert public.status == 200 and public.body["data"]["uuid"] == order["uuid"]
    assert upstream_saw(gw, f"/api/v1/orders/{order['uuid']}")["x-gateway-auth"] == "public"
    if allowed_carry_limits:
        assert_rate_limit_headers(public)


async def test_denials_reach_the_client_as_walletgate_made_them(ingress, stacks_signer, evm_signer):
    gw = ingress
    owner_key = await create_api_key(gw, stacks_signer)
    order = await create_order(gw, stacks_signer, api_key=owner_key["apiKey"])
    path = f"/api/v1/orders/{order['uuid']}/execute"
    before = len(gw.backend_requests)

    foreign = await create_api_key(gw, evm_signer)
    refused = await call(gw, "POST", path, headers={"X-API-Key": foreign["apiKey"]})
    assert_error(refused, 403, "WALLET_MISMATCH")
    assert refused.body["details"] == {
        "apiKeyWallet": evm_signer.address,
        "orderOwner": stacks_signer.address,
        "orderUuid": order["uuid"],
    }
    assert_rate_limit_headers(refused)

    single = await create_api_key(gw, stacks_signer, name="single", rateLimit=1)
    first = await call(gw, "GET", "/api/v1/orders", headers={"X-API-Key": single["apiKey"]})
    assert first.status == 200
    limited = await call(gw, "GET", "/api/v1/orders", headers={"X-API-Key": single["apiKey"]})
    assert_error(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.body["details"]["scope"] == "key"

    tick(gw)
    revoke = signed_body(
        stacks_signer, "delete_api_key", {"keyId": owner_key["keyId"]}, now_ms=now_ms(gw)
    )
    revoked = await call(gw, "DELETE", f"/api/v1/api-keys/{owner_key['keyId']}", json=revoke)
    assert revoked.status == 200, revoked.text
    inactive = await call(gw, "POST", path, headers={"X-API-Key": owner_key["apiKey"]})
    assert_error(inactive, 401, "API_KEY_INACTIVE")

    # A client naming another original request gets the decision for its own.
    forged = {"X-Original-Method": "GET", "X-Original-URI": "/api/v1/orders"}
    forged |= {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/v1/orders"}
    assert_error(await call(gw, "POST", path, headers=forged), 401, "UNAUTHORIZED")
    assert_error(await call(gw, "GET", "/not/a/route"), 404, "NOT_FOUND")
    assert_error(await call(gw, "GET", "/_walletgate/auth"), 404, "NOT_FOUND")
    bad = await call(gw, "POST", path, headers=_bad_wallet_headers(gw, stacks_signer, order))
    assert bad.status == 400 and bad.body["code"] in {"INVALID_WALLET", "INVALID_MESSAGE"}
    # None of the refused executes reached the backend.
    assert not [r for r in gw.backend_requests[before:] if r["path"] == path]


def _bad_wallet_headers(gw: RunningGateway, signer: Any, order: dict[str, Any]) -> dict[str, str]:
    tick(gw)
    headers = signed_headers(signer, "execute_order", {"uuid": order["uuid"]}, now_ms=now_ms(gw))
    headers["X-Wallet-Address"] = "SPNOTANADDRESS"
    return headers
