"""The error tables of the two source documents, row by row, against a real gateway.

Seed 000 ("Common Error Responses"): HTTP status and the `error` text a client
written from it shows. Seed 001 ("Error Codes"): the `code` of `/api-key/generate`
and `/api-key/revoke`. Each refusal changes nothing in the store.
"""

from __future__ import annotations

import hashlib

import pytest

from gateway.config import ServiceKeySettings
from gateway.keys.model import KeyStatus
from gateway.wallets.signing import signed_body
from tests.conftest import RunningGateway, create_api_key, create_order, now_ms
from tests.support.key_api import assert_error, call, store_snapshot

SERVICE_KEY = "stk_service_seed_tables_0123456789"
WALLET = "0x742d35cc6c6c7532b1140da4c8a2f6c8ecfc9b46"


async def execute(gw: RunningGateway, api_key: str, uuid: str) -> object:
    return await call(gw, "POST", f"/api/v1/orders/{uuid}/execute", headers={"X-API-Key": api_key})


def assert_row(reply, status: int, error: str, code: str) -> None:
    assert_error(reply, status, code)
    assert reply.body["error"] == error


# -- seed 000 -----------------------------------------------------------------------------


async def test_401_invalid_api_key_for_an_unknown_or_malformed_key(gateway, stacks_signer):
    order = await create_order(gateway, stacks_signer)
    for key in ("ck_live_abc123def456...", "not-a-key", "ck_live_" + "A" * 45):
        assert_row(
            await execute(gateway, key, order["uuid"]), 401, "Invalid API key", "INVALID_API_KEY"
        )


@pytest.mark.parametrize("status", [KeyStatus.SUSPENDED, KeyStatus.REVOKED])
async def test_401_api_key_inactive_when_revoked_or_suspended(gateway, stacks_signer, status):
    created = await create_api_key(gateway, stacks_signer)
    order = await create_order(gateway, stacks_signer)
    await gateway.gw.keys.set_status(created["keyId"], status)
    reply = await execute(gateway, created["apiKey"], order["uuid"])
    assert_row(reply, 401, "API key inactive", "API_KEY_INACTIVE")


async def test_403_key_not_authorized_for_this_wallet_names_both_wallets(
    gateway, stacks_signer, other_stacks_signer
):
    stranger = await create_api_key(gateway, other_stacks_signer)
    order = await create_order(gateway, stacks_signer)
    reply = await execute(gateway, stranger["apiKey"], order["uuid"])
    assert_row(reply, 403, "API key not authorized for this wallet", "WALLET_MISMATCH")
    assert reply.body["details"] == {  # the seed's example error response
        "apiKeyWallet": other_stacks_signer.address,
        "orderOwner": stacks_signer.address,
        "orderUuid": order["uuid"],
    }


async def test_429_rate_limit_exceeded(gateway, stacks_signer):
    created = await create_api_key(gateway, stacks_signer, rateLimit=1)
    order = await create_order(gateway, stacks_signer)
    first = await execute(gateway, created["apiKey"], "uuid-missing")
    assert first.status == 404
    reply = await execute(gateway, created["apiKey"], order["uuid"])
    assert_row(reply, 429, "Rate limit exceeded", "RATE_LIMITED")
    assert reply.headers["X-RateLimit-Remaining"] == "0"


async def test_400_order_not_open_and_404_order_not_found(gateway, stacks_signer):
    created = await create_api_key(gateway, stacks_signer)
    order = await create_order(gateway, stacks_signer)
    headers = {"X-API-Key": created["apiKey"]}
    cancel = f"/api/v1/orders/{order['uuid']}/cancel"
    assert (await call(gateway, "PATCH", cancel, headers=headers)).status == 200
    again = await call(gateway, "PATCH", cancel, headers=headers)
    assert_row(again, 400, "Order not open", "ORDER_NOT_OPEN")
    missing = await execute(gateway, created["apiKey"], "uuid_456def")
    assert_row(missing, 404, "Order not found", "ORDER_NOT_FOUND")


# -- seed 001 -----------------------------------------------------------------------------


@pytest.fixture
async def service_gateway(start_gateway) -> RunningGateway:
    digest = hashlib.sha256(SERVICE_KEY.encode()).hexdigest()
    return await start_gateway(service_keys=[ServiceKeySettings(sha256=digest, name="frontend")])


async def post(gw: RunningGateway, path: str, **headers: str) -> object:
    return await call(gw, "POST", path, headers={"Content-Type": "application/json"} | headers)


@pytest.mark.parametrize("path", ["/api-key/generate", "/api-key/revoke"])
async def test_seed_001_codes_on_both_endpoints(service_gateway, path):
    gw = service_gateway
    before = await store_snapshot(gw)
    missing = await post(gw, path, **{"X-Wallet-Address": WALLET})
    assert_error(missing, 401, "UNAUTHORIZED", evm=True)
    for wallet in ("0x742d35cc", "SP1ABC123...", ""):
        bad = await post(gw, path, **{"X-API-Key": SERVICE_KEY, "X-Wallet-Address": wallet})
        assert_error(bad, 400, "INVALID_WALLET", evm=True)
    assert await store_snapshot(gw) == before


async def test_seed_001_api_key_exists_is_409(service_gateway):
    headers = {"X-API-Key": SERVICE_KEY, "X-Wallet-Address": WALLET}
    first = await post(service_gateway, "/api-key/generate", **headers)
    assert first.status == 200, first.text
    before = await store_snapshot(service_gateway)
    second = await post(service_gateway, "/api-key/generate", **headers)
    assert_error(second, 409, "API_KEY_EXISTS", evm=True)
    assert await store_snapshot(service_gateway) == before


@pytest.mark.parametrize("path", ["/api-key/generate", "/api-key/revoke"])
async def test_seed_001_server_error_is_internal_error(service_gateway, path):
    await service_gateway.gw.store.close()  # the key store fails under the request
    headers = {"X-API-Key": SERVICE_KEY, "X-Wallet-Address": WALLET}
    reply = await post(service_gateway, path, **headers)
    assert_error(reply, 503, "INTERNAL_ERROR", evm=True)
    assert reply.body["details"] == {"cause": "SERVICE_UNAVAILABLE"}


async def test_v1_routes_keep_the_precise_server_error_code(gateway, stacks_signer):
    await gateway.gw.store.close()
    fields = {"keyName": "bot", "permissions": ["execute"]}
    body = signed_body(stacks_signer, "create_api_key", fields, now_ms=now_ms(gateway))
    reply = await call(gateway, "POST", "/api/v1/api-keys", json=body)
    assert_error(reply, 503, "SERVICE_UNAVAILABLE")
