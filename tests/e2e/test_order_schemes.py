"""Orders signed as wallets sign structured data, through a real gateway and backend.

Each scheme is configured as an operator would, the client signs what the
gateway publishes for it, and every refusal is checked at the backend too:
no request reached it and its store has no such order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from typing import Any

import pytest

from gateway.cli.reload import reload
from gateway.client import WalletGateClient
from gateway.wallets.order_schemes import OrderScheme, scheme_from_document
from gateway.wallets.recover import SECP256K1_N
from gateway.wallets.signing import EvmSigner, StacksSigner, sign_order_with_scheme
from tests.conftest import EVM_KEY, RunningGateway, create_api_key
from tests.support.order_scheme_routes import (
    BLAZE_UNSIGNED,
    SCHEMES,
    TESTNET_TOKEN,
    order_for,
    order_routes,
)

ORDERS_NEW = "/api/v1/orders/new"
ALL = pytest.mark.parametrize("scheme", ["stacks-order", "evm-order", "blaze"])


def signer_for(scheme: str, stacks_signer: StacksSigner, evm_signer: EvmSigner) -> Any:
    return evm_signer if scheme == "evm-order" else stacks_signer


async def start(start_gateway: Any, scheme: str) -> RunningGateway:
    return await start_gateway(order_schemes=SCHEMES, routes=order_routes(scheme))


async def published(gw: RunningGateway, name: str) -> OrderScheme:
    async with gw.client.get(gw.at(f"/api/v1/order-schemes/{name}")) as response:
        assert response.status == 200
        return scheme_from_document(await response.json())


async def post(gw: RunningGateway, body: Any, headers: dict[str, str] | None = None) -> Any:
    async with gw.client.post(gw.at(ORDERS_NEW), json=body, headers=headers or {}) as response:
        return response.status, await response.json()


async def backend_order(gw: RunningGateway, uuid: str) -> tuple[int, Any]:
    async with gw.client.get(f"{gw.backend_url}/api/v1/orders/{uuid}") as response:
        return response.status, await response.json()


def creations(gw: RunningGateway) -> int:
    return sum(1 for r in gw.backend_requests if r["method"] == "POST" and r["path"] == ORDERS_NEW)


async def assert_refused(
    gw: RunningGateway, body: dict[str, Any], status: int, code: str, field: str | None = None
) -> None:
    answer_status, answer = await post(gw, body)
    assert (answer_status, answer["code"]) == (status, code), answer
    if field is not None:
        assert answer["details"]["field"] == field
    assert creations(gw) == 0
    assert (await backend_order(gw, str(body.get("uuid"))))[0] == 404


@ALL
async def test_order_signed_alone_is_created_under_each_scheme(
    start_gateway, stacks_signer, evm_signer, scheme
):
    gw = await start(start_gateway, scheme)
    signer = signer_for(scheme, stacks_signer, evm_signer)
    order = sign_order_with_scheme(signer, await published(gw, scheme), order_for(scheme, signer))
    status, answer = await post(gw, order)
    assert status == 201, answer
    stored_status, stored = await backend_order(gw, order["uuid"])
    assert stored_status == 200
    assert {k: stored["data"][k] for k in order} == order
    assert creations(gw) == 1


@ALL
async def test_order_with_key_and_signature_is_created_under_each_scheme(
    start_gateway, stacks_signer, evm_signer, scheme
):
    gw = await start(start_gateway, scheme)
    signer = signer_for(scheme, stacks_signer, evm_signer)
    key = await create_api_key(gw, signer, permissions=("create",))
    order = sign_order_with_scheme(signer, await published(gw, scheme), order_for(scheme, signer))
    status, answer = await post(gw, order, {"X-API-Key": key["apiKey"]})
    assert status == 201, answer
    assert answer["data"]["uuid"] == order["uuid"]
    assert creations(gw) == 1


@ALL
async def test_the_same_signed_order_is_refused_the_second_time(
    start_gateway, stacks_signer, evm_signer, scheme
):
    gw = await start(start_gateway, scheme)
    signer = signer_for(scheme, stacks_signer, evm_signer)
    order = sign_order_with_scheme(signer, await published(gw, scheme), order_for(scheme, signer))
    assert (await post(gw, order))[0] == 201
    status, answer = await post(gw, order)
    assert (status, answer["code"]) == (401, "SIGNATURE_REPLAYED")
    assert creations(gw) == 1


async def test_high_s_twin_of_a_valid_signature_is_refused(start_gateway, stacks_signer):
    gw = await start(start_gateway, "stacks-order")
    scheme = await published(gw, "stacks-order")
    order = sign_order_with_scheme(stacks_signer, scheme, order_for("stacks-order", stacks_signer))
    raw = bytes.fromhex(order["signature"])
    high_s = (SECP256K1_N - int.from_bytes(raw[32:64], "big")).to_bytes(32, "big")
    twin = raw[:32] + high_s + bytes([raw[64] ^ 1])
    status, answer = await post(gw, {**order, "signature": twin.hex()})
    assert (status, answer["details"]) == (401, {"reason": "high-s signature"})
    assert creations(gw) == 0


async def test_evm_signature_with_v_0_or_1_is_accepted(start_gateway, evm_signer):
    gw = await start(start_gateway, "evm-order")
    scheme = await published(gw, "evm-order")
    order = sign_order_with_scheme(evm_signer, scheme, order_for("evm-order", evm_signer))
    v = int(order["signature"][-2:], 16)
    order["signature"] = order["signature"][:-2] + f"{v - 27:02x}"
    assert (await post(gw, order))[0] == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amountIn": 1000000}, "amountIn"),
        ({"inputToken": "sp2zngj85endy6qrhq5p2d4fxkgzwckTB2T0Z55KS.token-a"}, "inputToken"),
        ({"recipient": TESTNET_TOKEN.split(".")[0]}, "recipient"),
        ({"inputToken": TESTNET_TOKEN}, "inputToken"),
        ({"validTo": 1767225600}, "validTo"),
        ({"targetPrice": "1.5\n"}, "targetPrice"),
        ({"extra": "x"}, "extra"),
    ],
    ids=[
        "json-number-uint",
        "non-canonical-principal",
        "testnet-recipient-on-mainnet",
        "testnet-token-on-mainnet",
        "json-number-string",
        "non-printable-ascii",
        "uncovered-field",
    ],
)
async def test_bad_sip018_values_are_refused_naming_the_field(
    start_gateway, stacks_signer, change, field
):
    gw = await start(start_gateway, "stacks-order")
    scheme = await published(gw, "stacks-order")
    order = sign_order_with_scheme(stacks_signer, scheme, order_for("stacks-order", stacks_signer))
    await assert_refused(gw, {**order, **change}, 400, "INVALID_MESSAGE", field)


async def test_testnet_owner_on_a_mainnet_scheme_is_refused(start_gateway):
    gw = await start(start_gateway, "stacks-order")
    testnet = StacksSigner(
        "7b9f0a6ad0de8f5aa7d3b3f0e3fe2b1bce0c2b3c1f5a1f8a2c5e54c2c1f3a90b01", network="testnet"
    )
    body = order_for("stacks-order", testnet, signature="00" * 65)
    await assert_refused(gw, body, 400, "INVALID_MESSAGE", "owner")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amountIn": 250000000}, "amountIn"),
        ({"inputToken": "0xa0B86991c6218b36c1d19D4a2e9Eb0cE3606eB48"}, "inputToken"),
        ({"conditionToken": "0x" + "11" * 31}, "conditionToken"),
        ({"conditionToken": "0x" + "11" * 33}, "conditionToken"),
        ({"outputToken": "0x" + "c0" * 19}, "outputToken"),
        ({"extra": "x"}, "extra"),
    ],
    ids=[
        "json-number-uint",
        "bad-eip55-checksum",
        "short-bytes32",
        "long-bytes32",
        "short-address",
        "uncovered-field",
    ],
)
async def test_bad_eip712_values_are_refused_naming_the_field(
    start_gateway, evm_signer, change, field
):
    gw = await start(start_gateway, "evm-order")
    scheme = await published(gw, "evm-order")
    order = sign_order_with_scheme(evm_signer, scheme, order_for("evm-order", evm_signer))
    await assert_refused(gw, {**order, **change}, 400, "INVALID_MESSAGE", field)


async def test_order_signed_for_another_chain_is_refused(start_gateway, evm_signer):
    gw = await start(start_gateway, "evm-order")
    document = (await published(gw, "evm-order")).document()
    other_chain = scheme_from_document(
        {**document, "domain": {**document["domain"], "chainId": "137"}}
    )
    order = sign_order_with_scheme(evm_signer, other_chain, order_for("evm-order", evm_signer))
    await assert_refused(gw, order, 401, "INVALID_SIGNATURE")


async def test_order_of_another_owner_is_refused(start_gateway, stacks_signer, other_stacks_signer):
    gw = await start(start_gateway, "stacks-order")
    scheme = await published(gw, "stacks-order")
    order = sign_order_with_scheme(
        other_stacks_signer, scheme, order_for("stacks-order", stacks_signer)
    )
    await assert_refused(gw, order, 401, "INVALID_SIGNATURE")


async def test_blaze_intent_leaves_exactly_its_unsigned_fields_open(start_gateway, stacks_signer):
    gw = await start(start_gateway, "blaze")
    scheme = await published(gw, "blaze")
    assert tuple(scheme.document()["unsigned"]) == BLAZE_UNSIGNED
    order = sign_order_with_scheme(stacks_signer, scheme, order_for("blaze", stacks_signer))
    # An unsigned field may differ from what the owner saw; a signed one may not.
    changed = {**order, "targetPrice": "99", "direction": "lt"}
    assert (await post(gw, changed))[0] == 201
    stored = (await backend_order(gw, order["uuid"]))[1]["data"]
    assert (stored["targetPrice"], stored["direction"]) == ("99", "lt")
    other = sign_order_with_scheme(stacks_signer, scheme, order_for("blaze", stacks_signer))
    status, answer = await post(gw, {**other, "amountIn": "2000000"})
    assert (status, answer["code"]) == (401, "INVALID_SIGNATURE")
    assert creations(gw) == 1


async def test_blaze_owner_is_bound_by_the_signature(
    start_gateway, stacks_signer, other_stacks_signer
):
    gw = await start(start_gateway, "blaze")
    scheme = await published(gw, "blaze")
    order = sign_order_with_scheme(stacks_signer, scheme, order_for("blaze", stacks_signer))
    claimed = {**order, "owner": other_stacks_signer.address}
    await assert_refused(gw, claimed, 401, "INVALID_SIGNATURE")


async def test_schemes_are_published_for_clients(start_gateway):
    gw = await start(start_gateway, "evm-order")
    async with gw.client.get(gw.at("/api/v1/order-schemes")) as response:
        assert response.status == 200
        listed = await response.json()
    assert listed["schemes"] == [
        {"name": "evm-order", "kind": "eip712", "routes": [{"method": "POST", "path": ORDERS_NEW}]}
    ]
    async with gw.client.get(gw.at("/api/v1/order-schemes/evm-order")) as response:
        document = await response.json()
    assert list(document["types"]) == ["EIP712Domain", "Order"]
    assert document["types"]["EIP712Domain"] == [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ]
    assert document["primaryType"] == "Order"
    assert document["unsigned"] == ["validFrom", "validTo"]
    assert response.headers["X-RateLimit-Limit"] == "300"
    async with gw.client.get(gw.at("/api/v1/order-schemes/nope")) as response:
        assert (response.status, (await response.json())["code"]) == (404, "NOT_FOUND")
    async with gw.client.get(gw.at("/openapi.json")) as response:
        openapi = await response.json()
    assert openapi["x-walletgate-order-schemes"]["evm-order"]["types"] == document["types"]
    assert openapi["paths"][ORDERS_NEW]["post"]["x-walletgate-order-scheme"] == "evm-order"
    assert "/api/v1/order-schemes/{name}" in openapi["paths"]


async def test_sip018_tuple_template_is_published_in_byte_order(start_gateway):
    gw = await start(start_gateway, "blaze")
    async with gw.client.get(gw.at("/api/v1/order-schemes/blaze")) as response:
        document = await response.json()
    assert [entry["key"] for entry in document["message"]] == [
        "amount",
        "contract",
        "intent",
        "opcode",
        "target",
        "uuid",
    ]
    assert document["message"][2] == {
        "key": "intent",
        "type": "string-ascii",
        "const": "TRANSFER_TOKENS",
    }
    assert document["domain"] == {"name": "BLAZE_PROTOCOL", "version": "v1.0", "chain-id": 1}
    assert document["ownerBoundBySignature"] is True


@ALL
async def test_client_signs_orders_with_the_scheme_the_gateway_publishes(
    start_gateway, stacks_signer, evm_signer, scheme
):
    gw = await start(start_gateway, scheme)
    signer = signer_for(scheme, stacks_signer, evm_signer)
    order = order_for(scheme, signer)
    del order["owner"]
    async with WalletGateClient(gw.url, signer=signer) as client:
        created = await client.create_order(order)
    assert created["uuid"] == order["uuid"]
    assert created["owner"] == signer.address
    assert (await backend_order(gw, order["uuid"]))[0] == 200


async def test_sign_command_fetches_the_scheme_from_the_gateway(
    start_gateway, evm_signer, tmp_path
):
    gw = await start(start_gateway, "evm-order")
    (tmp_path / "order.json").write_text(json.dumps(order_for("evm-order", evm_signer)))
    (tmp_path / "key").write_text(EVM_KEY)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "sign",
        "--order",
        str(tmp_path / "order.json"),
        "--scheme",
        "evm-order",
        "--gateway",
        gw.url,
        "--key-file",
        str(tmp_path / "key"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    status, answer = await post(gw, json.loads(out))
    assert status == 201, answer


async def test_a_reload_that_names_another_scheme_verifies_orders_under_it(
    start_gateway, stacks_signer
):
    gw = await start(start_gateway, "stacks-order")
    new = dataclasses.replace(gw.gw.settings, routes=tuple(order_routes("blaze")))
    result = reload(gw.app, new)
    assert "routes" in result.applied
    scheme = await published(gw, "blaze")
    order = sign_order_with_scheme(stacks_signer, scheme, order_for("blaze", stacks_signer))
    status, answer = await post(gw, order)
    assert status == 201, answer
    async with gw.client.get(gw.at("/api/v1/order-schemes/stacks-order")) as response:
        assert response.status == 404
