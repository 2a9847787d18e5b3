"""The service-key dialect end to end: `/api-key/generate` and
`/api-key/revoke` with a service key or the wallet's own key, one active key per wallet.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

import pytest

from gateway.config import ServiceKeySettings
from gateway.errors import ErrorCode
from gateway.keys.model import Dialect, KeyStatus
from gateway.wallets import evm
from tests.conftest import RunningGateway, create_api_key
from tests.support.key_api import ISO_UTC, Reply, assert_error, call, mid_minute_clock, probe_key

SERVICE_KEY = "stk_service_" + secrets.token_urlsafe(24)
# The documents' own example wallet, lower-case as the documents send it.
WALLET = "0x742d35cc6c6c7532b1140da4c8a2f6c8ecfc9b46"
GENERATED = "API key generated successfully. Save this key - it won't be shown again!"


@pytest.fixture
async def evm_gateway(start_gateway) -> RunningGateway:
    service = ServiceKeySettings(
        sha256=hashlib.sha256(SERVICE_KEY.encode()).hexdigest(), name="frontend"
    )
    return await start_gateway(service_keys=[service])


async def generate(
    gw: RunningGateway, api_key: str | None = SERVICE_KEY, wallet: str | None = WALLET
) -> Reply:
    """The documents' curl: X-API-Key, X-Wallet-Address, Content-Type, no body."""
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["X-API-Key"] = api_key
    if wallet is not None:
        headers["X-Wallet-Address"] = wallet
    return await call(gw, "POST", "/api-key/generate", headers=headers)


async def revoke(
    gw: RunningGateway, api_key: str | None = SERVICE_KEY, wallet: str | None = WALLET
) -> Reply:
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["X-API-Key"] = api_key
    if wallet is not None:
        headers["X-Wallet-Address"] = wallet
    return await call(gw, "POST", "/api-key/revoke", headers=headers)


def assert_generated(reply: Reply, wallet: str = WALLET) -> str:
    assert reply.status == 200, reply.text
    assert set(reply.body) == {"success", "api_key", "wallet_address", "created_at", "message"}
    assert reply.body["success"] is True
    assert reply.body["api_key"].startswith("stk_")
    assert reply.body["wallet_address"] == wallet
    assert ISO_UTC.match(reply.body["created_at"])
    assert reply.body["message"] == GENERATED
    return reply.body["api_key"]


async def active_keys(gw: RunningGateway) -> list[str]:
    keys = await gw.gw.store.list_keys(status=KeyStatus.ACTIVE)
    return [k.id for k in keys]


async def test_service_key_generates_a_key_of_the_documented_shape(evm_gateway):
    reply = await generate(evm_gateway)
    api_key = assert_generated(reply)
    assert reply.headers["X-RateLimit-Window"] == "60"
    used = await probe_key(evm_gateway, api_key)
    assert used.status == 200, used.text
    [stored] = await evm_gateway.gw.store.list_keys()
    assert stored.dialect == Dialect.EVM
    assert stored.wallet == WALLET
    assert stored.wallet_display == WALLET


async def test_second_generate_for_a_wallet_is_a_conflict(evm_gateway):
    assert_generated(await generate(evm_gateway))
    conflict = await generate(evm_gateway)
    assert_error(conflict, 409, ErrorCode.API_KEY_EXISTS, evm=True)
    # The same wallet written with its EIP-55 checksum is the same wallet.
    checksummed = evm.to_checksum_address(WALLET)
    assert_error(
        await generate(evm_gateway, wallet=checksummed), 409, ErrorCode.API_KEY_EXISTS, evm=True
    )
    assert len(await active_keys(evm_gateway)) == 1


async def test_generate_with_the_wallets_own_active_key_is_a_conflict(evm_gateway):
    api_key = assert_generated(await generate(evm_gateway))
    for wallet in (None, WALLET):
        reply = await generate(evm_gateway, api_key=api_key, wallet=wallet)
        assert_error(reply, 409, ErrorCode.API_KEY_EXISTS, evm=True)
    assert len(await active_keys(evm_gateway)) == 1


async def test_revoke_by_the_key_itself_then_generate_again(evm_gateway):
    api_key = assert_generated(await generate(evm_gateway))
    revoked = await revoke(evm_gateway, api_key=api_key, wallet=None)
    assert revoked.status == 200, revoked.text
    assert set(revoked.body) == {"success", "wallet_address", "revoked_at", "message"}
    assert revoked.body["success"] is True
    assert revoked.body["wallet_address"] == WALLET
    assert ISO_UTC.match(revoked.body["revoked_at"])
    assert isinstance(revoked.body["message"], str)

    assert_error(await probe_key(evm_gateway, api_key), 401, ErrorCode.API_KEY_INACTIVE)
    # A revoked key can neither revoke again nor generate.
    assert_error(
        await revoke(evm_gateway, api_key=api_key), 401, ErrorCode.API_KEY_INACTIVE, evm=True
    )
    assert_error(
        await generate(evm_gateway, api_key=api_key), 401, ErrorCode.API_KEY_INACTIVE, evm=True
    )

    again = assert_generated(await generate(evm_gateway))
    assert again != api_key
    assert (await probe_key(evm_gateway, again)).status == 200


async def test_revoke_by_service_key_then_generate_again(evm_gateway):
    api_key = assert_generated(await generate(evm_gateway))
    revoked = await revoke(evm_gateway)
    assert revoked.status == 200, revoked.text
    assert revoked.body["success"] is True
    assert_error(await probe_key(evm_gateway, api_key), 401, ErrorCode.API_KEY_INACTIVE)

    nothing_left = await revoke(evm_gateway)
    assert_error(nothing_left, 404, ErrorCode.NOT_FOUND, evm=True)

    assert_generated(await generate(evm_gateway))
    assert len(await active_keys(evm_gateway)) == 1


async def test_key_of_one_wallet_cannot_act_for_another(evm_gateway):
    api_key = assert_generated(await generate(evm_gateway))
    other = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
    for endpoint in (generate, revoke):
        reply = await endpoint(evm_gateway, api_key=api_key, wallet=other)
        assert_error(reply, 403, ErrorCode.WALLET_MISMATCH, evm=True)
    assert (await probe_key(evm_gateway, api_key)).status == 200


@pytest.mark.parametrize("endpoint", ["generate", "revoke"])
async def test_request_errors_carry_success_false(evm_gateway, endpoint):
    send = generate if endpoint == "generate" else revoke
    cases = [
        # Service key without the wallet it acts for.
        ({"wallet": None}, 400, ErrorCode.INVALID_WALLET),
        ({"wallet": "0x742d35cc"}, 400, ErrorCode.INVALID_WALLET),
        ({"wallet": "SP1ABC123..."}, 400, ErrorCode.INVALID_WALLET),
        ({"wallet": "0x742d35cc6c6c7532b1140da4c8a2f6c8ecfc9bZZ"}, 400, ErrorCode.INVALID_WALLET),
        # Mixed case with a broken EIP-55 checksum.
        ({"wallet": "0x742D35cc6c6c7532b1140da4c8a2f6c8ecfc9b46"}, 400, ErrorCode.INVALID_WALLET),
        # Seed 001's table: a missing or invalid key is UNAUTHORIZED in this dialect.
        ({"api_key": None}, 401, ErrorCode.UNAUTHORIZED),
        ({"api_key": "stk_service_key_or_existing_key"}, 401, ErrorCode.UNAUTHORIZED),
        ({"api_key": "stk_" + "a" * 49}, 401, ErrorCode.UNAUTHORIZED),
        ({"api_key": ""}, 401, ErrorCode.UNAUTHORIZED),
    ]
    for arguments, status, code in cases:
        reply = await send(evm_gateway, **arguments)
        assert_error(reply, status, code, evm=True)
    assert await evm_gateway.gw.store.list_keys() == []


async def test_v1_routes_keep_the_plain_error_body(evm_gateway):
    reply = await call(evm_gateway, "GET", "/api/v1/api-keys")
    assert_error(reply, 401, ErrorCode.UNAUTHORIZED)


async def test_signed_v1_key_does_not_block_an_evm_key(evm_gateway, evm_signer):
    # One active key per wallet holds within the EVM dialect, not across dialects.
    v1 = await create_api_key(evm_gateway, evm_signer)
    assert_generated(
        await generate(evm_gateway, wallet=evm_signer.address), wallet=evm_signer.address
    )
    assert (await probe_key(evm_gateway, v1["apiKey"])).status == 200


async def test_fifty_parallel_generates_make_exactly_one_key(evm_gateway):
    replies = await asyncio.gather(*(generate(evm_gateway) for _ in range(50)))
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] + [409] * 49
    for reply in replies:
        if reply.status == 409:
            assert_error(reply, 409, ErrorCode.API_KEY_EXISTS, evm=True)
    [key] = await evm_gateway.gw.store.list_keys()
    assert key.status == KeyStatus.ACTIVE
    [winner] = [r for r in replies if r.status == 200]
    assert (await probe_key(evm_gateway, winner.body["api_key"])).status == 200


async def test_evm_management_is_rate_limited_per_wallet(start_gateway):
    service = ServiceKeySettings(sha256=hashlib.sha256(SERVICE_KEY.encode()).hexdigest())
    gw = await start_gateway(
        clock=mid_minute_clock(),
        service_keys=[service],
        rate_limits={"management_per_minute": 2},
    )
    assert_generated(await generate(gw))
    assert (await revoke(gw)).status == 200
    limited = await generate(gw)
    assert_error(limited, 429, ErrorCode.RATE_LIMITED, evm=True)
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert len(await active_keys(gw)) == 0
