"""WalletGateClient against a real gateway and backend on loopback."""

from __future__ import annotations

import math
from typing import Any

import pytest

import walletgate_client
from gateway.client import EvmSigner, StacksSigner, WalletGateClient, WalletGateError
from gateway.config import ServiceKeySettings
from gateway.keys.token import hash_api_key
from gateway.wallets import signing
from tests.conftest import EVM_KEY as EVM_HEX
from tests.conftest import STACKS_KEY as STACKS_HEX
from tests.conftest import RunningGateway, order_body


def client_for(gw: RunningGateway, **options: Any) -> WalletGateClient:
    """A client sharing the test's session and the gateway's clock (signature timestamps)."""
    return WalletGateClient(gw.url, session=gw.client, clock=gw.clock, **options)


def clock_advancing_sleep(gw: RunningGateway, slept: list[float]) -> Any:
    """A sleep that moves the gateway's clock instead of waiting."""

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        gw.clock.advance(seconds)

    return sleep


def seconds_to_next_minute(gw: RunningGateway) -> int:
    now = gw.clock()
    return max(math.ceil((int(now) // 60 + 1) * 60 - now), 1)


def backend_calls(gw: RunningGateway, method: str, suffix: str) -> list[dict[str, Any]]:
    return [r for r in gw.backend_requests if r["method"] == method and r["path"].endswith(suffix)]


def test_client_module_reexports_the_distribution():
    assert StacksSigner is walletgate_client.StacksSigner
    assert EvmSigner is walletgate_client.EvmSigner
    assert WalletGateClient is walletgate_client.WalletGateClient


def test_client_signers_match_the_gateways(stacks_signer, evm_signer):
    message = '{"action":"list_api_keys","timestamp":1}'
    for ours, theirs in (
        (StacksSigner(STACKS_HEX), signing.StacksSigner(STACKS_HEX)),
        (EvmSigner(EVM_HEX), signing.EvmSigner(EVM_HEX)),
    ):
        assert (ours.address, ours.sign(message)) == (theirs.address, theirs.sign(message))


async def test_wallet_manages_its_keys_through_the_client(gateway, stacks_signer):
    async with client_for(gateway, signer=stacks_signer) as client:
        created = await client.create_api_key("Bot", ["execute", "cancel"], rate_limit=50)
        assert created["apiKey"].startswith("ck_live_")
        assert created["permissions"] == ["execute", "cancel"]
        assert created["rateLimit"] == 50

        listed = await client.list_api_keys()
        assert [k["id"] for k in listed] == [created["keyId"]]
        assert "apiKey" not in listed[0]
        shown = await client.get_api_key(created["keyId"])
        assert shown["status"] == "active"

        rotated = await client.rotate_api_key(created["keyId"])
        assert rotated["apiKey"] != created["apiKey"]
        assert rotated["replacesKeyId"] == created["keyId"]
        assert (await client.get_api_key(created["keyId"]))["status"] == "revoked"

        message = await client.revoke_api_key(rotated["keyId"])
        assert message == "API key 'Bot' has been revoked"
        statuses = {k["id"]: k["status"] for k in await client.list_api_keys()}
        assert statuses == {created["keyId"]: "revoked", rotated["keyId"]: "revoked"}


async def test_bot_creates_and_executes_its_order_with_a_key(gateway, stacks_signer):
    async with client_for(gateway, signer=stacks_signer) as wallet:
        api_key = (await wallet.create_api_key("Bot"))["apiKey"]
    async with client_for(gateway, api_key=api_key, signer=stacks_signer) as bot:
        order = order_body(stacks_signer.address)
        del order["owner"]  # the client fills in its signer's address
        created = await bot.create_order(order)
        assert created["owner"] == stacks_signer.address
        assert created["status"] == "open"

        txid = await bot.execute_order(created["uuid"])
        assert txid.startswith("0x") and len(txid) == 66
        assert (await bot.get_order(created["uuid"]))["status"] == "filled"
        assert bot.last_rate_limit is not None
        assert bot.last_rate_limit.window == 60

    forwarded = backend_calls(gateway, "POST", f"/{created['uuid']}/execute")
    assert forwarded[0]["headers"]["X-Gateway-Auth"] == "api_key"


async def test_wallet_without_a_key_works_by_signature(gateway, evm_signer):
    async with client_for(gateway, signer=evm_signer) as wallet:
        first = await wallet.create_order(order_body(evm_signer.address))
        second = await wallet.create_order(order_body(evm_signer.address))
        assert (await wallet.cancel_order(first["uuid"]))["status"] == "success"
        assert (await wallet.execute_order(second["uuid"])).startswith("0x")

        orders, next_cursor = await wallet.list_orders(owner=evm_signer.address, limit=10)
        assert next_cursor is None
        statuses = {o["uuid"]: o["status"] for o in orders}
        assert statuses == {first["uuid"]: "cancelled", second["uuid"]: "filled"}

    for suffix in (f"/{first['uuid']}/cancel", f"/{second['uuid']}/execute"):
        (call,) = [r for r in gateway.backend_requests if r["path"].endswith(suffix)]
        assert call["headers"]["X-Gateway-Auth"] == "signature"


async def test_signed_calls_within_one_millisecond_are_not_replays(gateway, stacks_signer):
    # The gateway's test clock stands still, so every message would carry the same timestamp.
    async with client_for(gateway, signer=stacks_signer) as client:
        for _ in range(3):
            assert await client.list_api_keys() == []


async def test_error_answers_raise_typed_errors(gateway, stacks_signer, other_stacks_signer):
    async with client_for(gateway, signer=other_stacks_signer) as stranger:
        stranger_key = (await stranger.create_api_key("Stranger"))["apiKey"]
    async with client_for(gateway, signer=stacks_signer) as owner:
        order = await owner.create_order(order_body(stacks_signer.address))
        with pytest.raises(WalletGateError) as missing:
            await owner.execute_order("uuid-does-not-exist")
    assert missing.value.status == 404
    assert missing.value.code == "ORDER_NOT_FOUND"
    assert missing.value.message == "Order not found"

    async with client_for(gateway, api_key=stranger_key) as bot:
        with pytest.raises(WalletGateError) as refused:
            await bot.execute_order(order["uuid"])
    assert (refused.value.status, refused.value.code) == (403, "WALLET_MISMATCH")
    assert refused.value.details == {
        "apiKeyWallet": other_stacks_signer.address,
        "orderOwner": stacks_signer.address,
        "orderUuid": order["uuid"],
    }


async def test_rate_limited_call_waits_for_the_window_and_succeeds(gateway, stacks_signer):
    slept: list[float] = []
    async with client_for(gateway, signer=stacks_signer) as wallet:
        api_key = (await wallet.create_api_key("Slow bot", rate_limit=1))["apiKey"]
    sleep = clock_advancing_sleep(gateway, slept)
    async with client_for(gateway, api_key=api_key, signer=stacks_signer, sleep=sleep) as bot:
        order = await bot.create_order(order_body(stacks_signer.address))  # the one request
        expected_wait = seconds_to_next_minute(gateway)
        txid = await bot.execute_order(order["uuid"])
    assert txid.startswith("0x")
    assert slept == [expected_wait]
    assert len(backend_calls(gateway, "POST", f"/{order['uuid']}/execute")) == 1


async def test_retried_signed_call_is_signed_again(start_gateway, stacks_signer):
    gw = await start_gateway(rate_limits={"management_per_minute": 1})
    slept: list[float] = []
    sleep = clock_advancing_sleep(gw, slept)
    async with client_for(gw, signer=stacks_signer, sleep=sleep) as wallet:
        await wallet.list_api_keys()
        # Resent with its first signature this would be SIGNATURE_REPLAYED.
        assert await wallet.list_api_keys() == []
    assert len(slept) == 1


async def test_wait_longer_than_max_wait_raises_at_once(gateway, stacks_signer):
    slept: list[float] = []
    async with client_for(gateway, signer=stacks_signer) as wallet:
        api_key = (await wallet.create_api_key("Bot", rate_limit=1))["apiKey"]
    sleep = clock_advancing_sleep(gateway, slept)
    options = {"api_key": api_key, "signer": stacks_signer, "sleep": sleep, "max_wait_s": 0.5}
    async with client_for(gateway, **options) as bot:
        order = await bot.create_order(order_body(stacks_signer.address))
        with pytest.raises(WalletGateError) as limited:
            await bot.execute_order(order["uuid"])
    assert (limited.value.status, limited.value.code) == (429, "RATE_LIMITED")
    assert limited.value.details["scope"] == "key"
    assert slept == []


async def test_client_gives_up_after_max_retries(gateway, stacks_signer):
    slept: list[float] = []

    async def sleep_without_time_passing(seconds: float) -> None:
        slept.append(seconds)

    async with client_for(gateway, signer=stacks_signer) as wallet:
        api_key = (await wallet.create_api_key("Bot", rate_limit=1))["apiKey"]
    options = {"api_key": api_key, "signer": stacks_signer, "max_retries": 2}
    async with client_for(gateway, sleep=sleep_without_time_passing, **options) as bot:
        order = await bot.create_order(order_body(stacks_signer.address))
        with pytest.raises(WalletGateError) as limited:
            await bot.execute_order(order["uuid"])
    assert limited.value.status == 429
    assert len(slept) == 2
    assert backend_calls(gateway, "POST", f"/{order['uuid']}/execute") == []


async def test_given_session_stays_open_and_own_session_is_closed(gateway, stacks_signer):
    async with client_for(gateway, signer=stacks_signer) as client:
        await client.list_api_keys()
    assert not gateway.client.closed

    own = WalletGateClient(gateway.url, signer=stacks_signer)  # real time: a fresh message
    async with own:
        await own.list_api_keys()
        session = own._session
    assert session is not None and session.closed


async def test_calls_without_credentials_are_refused_locally(gateway):
    async with client_for(gateway) as client:
        with pytest.raises(ValueError, match="signer"):
            await client.list_api_keys()
        with pytest.raises(ValueError, match="signer"):
            await client.execute_order("uuid-1")


async def test_client_binds_every_signed_message_to_the_gateways_domain(
    start_gateway, stacks_signer
):
    gw = await start_gateway(signatures={"domain": "api.exchange.example"})
    async with client_for(gw, signer=stacks_signer) as wallet:
        assert await wallet.signing_domain() == "api.exchange.example"
        created = await wallet.create_api_key("Bound bot", ["execute"], ip_allowlist=["10.0.0.0/8"])
        assert created["ipAllowlist"] == ["10.0.0.0/8"]
        assert [k["keyId"] for k in await wallet.list_api_keys()] == [created["keyId"]]
        order = await wallet.create_order(order_body(stacks_signer.address))
        assert (await wallet.cancel_order(order["uuid"]))["status"] == "success"
        assert "revoked" in await wallet.revoke_api_key(created["keyId"])


async def test_unbound_gateway_gets_messages_without_a_domain(gateway, stacks_signer):
    async with client_for(gateway, signer=stacks_signer) as wallet:
        assert await wallet.signing_domain() is None
        await wallet.list_api_keys()


SERVICE_KEY = "stk_service_test_key_0123456789"


async def test_service_key_generates_and_revokes_a_wallets_key(start_gateway, evm_signer):
    service = ServiceKeySettings(sha256=hash_api_key(SERVICE_KEY), name="frontend")
    gw = await start_gateway(service_keys=[service])
    async with client_for(gw, api_key=SERVICE_KEY) as frontend:
        made = await frontend.generate_service_key(evm_signer.address)
        assert made["success"] is True
        assert made["api_key"].startswith("stk_")
        assert made["wallet_address"] == evm_signer.address
        with pytest.raises(WalletGateError) as exists:
            await frontend.generate_service_key(evm_signer.address)
        assert (exists.value.status, exists.value.code) == (409, "API_KEY_EXISTS")
        with pytest.raises(WalletGateError) as invalid:
            await frontend.generate_service_key("0xnot-a-wallet")
        assert (invalid.value.status, invalid.value.code) == (400, "INVALID_WALLET")
        revoked = await frontend.revoke_service_key(evm_signer.address)
        assert revoked["success"] is True
    async with client_for(gw, api_key=made["api_key"]) as bot:
        with pytest.raises(WalletGateError) as gone:
            await bot.list_orders()
        assert gone.value.status == 401


async def test_bad_client_options_are_refused_at_once(gateway):
    with pytest.raises(ValueError, match="http"):
        WalletGateClient("127.0.0.1:8080")
    with pytest.raises(ValueError, match="max_retries"):
        WalletGateClient(gateway.url, max_retries=-1)
    async with client_for(gateway) as client:
        with pytest.raises(ValueError, match="service key"):
            await client.generate_service_key("0x0000000000000000000000000000000000000001")


async def test_rate_limited_order_creation_waits_and_creates_it_once(gateway, stacks_signer):
    slept: list[float] = []
    async with client_for(gateway, signer=stacks_signer) as wallet:
        api_key = (await wallet.create_api_key("Slow bot", rate_limit=1))["apiKey"]
    sleep = clock_advancing_sleep(gateway, slept)
    async with client_for(gateway, api_key=api_key, signer=stacks_signer, sleep=sleep) as bot:
        await bot.order_scheme()  # fetched (and cached) first: only the order is sent below
        await bot.list_orders()
        assert bot.last_rate_limit is not None and bot.last_rate_limit.remaining == 0
        created = await bot.create_order(order_body(stacks_signer.address))
    assert len(slept) == 1  # the signed order itself was refused once, then resent
    assert created["status"] == "open"
    assert len(backend_calls(gateway, "POST", "/orders/new")) == 1
