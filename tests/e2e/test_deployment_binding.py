"""Deployment binding: a signed message is good on the one gateway it names.

A signature collected by another site (a cloned portal, another exchange)
must not mint keys or act here. Two independent gateways, each bound to its
own `signatures.domain`, plus an unbound one, all on the real endpoints.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.wallets.signing import EvmSigner, Signer, StacksSigner, signed_body, signed_headers
from tests.conftest import GatewayFactory, RunningGateway, create_order, now_ms
from tests.support.key_api import assert_error, call, store_snapshot

A = "a.exchange.example"
B = "b.exchange.example"
KEY_FIELDS = {"keyName": "bot", "permissions": ["create", "execute", "cancel"]}

pytestmark = pytest.mark.deployments


def bound(domain: str) -> dict[str, dict[str, Any]]:
    return {"signatures": {"domain": domain}}


def create_body(gw: RunningGateway, signer: Signer, **fields: Any) -> dict[str, str]:
    return signed_body(signer, "create_api_key", KEY_FIELDS | fields, now_ms=now_ms(gw))


@pytest.fixture(params=["stacks", "evm"])
def signer(
    request: pytest.FixtureRequest, stacks_signer: StacksSigner, evm_signer: EvmSigner
) -> Signer:
    return stacks_signer if request.param == "stacks" else evm_signer


async def test_message_bound_to_one_gateway_makes_no_key_on_another(
    start_gateway: GatewayFactory, signer: Signer
) -> None:
    gw_a = await start_gateway(**bound(A))
    gw_b = await start_gateway(clock=gw_a.clock, **bound(B))
    body = create_body(gw_a, signer, domain=A)
    made = await call(gw_a, "POST", "/api/v1/api-keys", json=body)
    assert made.status == 201, made.text
    before = await store_snapshot(gw_b)
    elsewhere = await call(gw_b, "POST", "/api/v1/api-keys", json=body)
    assert_error(elsewhere, 401, "INVALID_SIGNATURE")
    assert "another domain" in elsewhere.body["details"]["reason"]
    assert await store_snapshot(gw_b) == before


async def test_bound_gateway_refuses_unbound_message_and_says_which_domain(
    start_gateway: GatewayFactory, signer: Signer
) -> None:
    gw = await start_gateway(**bound(A))
    reply = await call(gw, "POST", "/api/v1/api-keys", json=create_body(gw, signer))
    assert_error(reply, 401, "INVALID_SIGNATURE")
    assert reply.body["details"]["reason"] == f'message must carry "domain": "{A}"'
    assert await store_snapshot(gw) == []


async def test_unbound_gateway_refuses_a_message_bound_elsewhere(
    start_gateway: GatewayFactory, signer: Signer
) -> None:
    gw = await start_gateway()
    reply = await call(gw, "POST", "/api/v1/api-keys", json=create_body(gw, signer, domain=A))
    assert_error(reply, 401, "INVALID_SIGNATURE")
    assert await store_snapshot(gw) == []
    # The seed's unbound messages stay good where no domain is configured.
    plain = await call(gw, "POST", "/api/v1/api-keys", json=create_body(gw, signer))
    assert plain.status == 201, plain.text


@pytest.mark.parametrize("domain", [A.upper(), f"{A}.", f"https://{A}", 1, None])
async def test_domain_must_match_exactly(
    start_gateway: GatewayFactory, stacks_signer: StacksSigner, domain: object
) -> None:
    gw = await start_gateway(**bound(A))
    reply = await call(
        gw, "POST", "/api/v1/api-keys", json=create_body(gw, stacks_signer, domain=domain)
    )
    assert_error(reply, 401, "INVALID_SIGNATURE")


async def test_signed_order_action_is_bound_too(
    start_gateway: GatewayFactory, evm_signer: EvmSigner
) -> None:
    gw = await start_gateway(**bound(A))
    order = await create_order(gw, evm_signer)
    path = f"/api/v1/orders/{order['uuid']}/execute"
    fields = {"uuid": order["uuid"]}
    unbound = signed_headers(evm_signer, "execute_order", fields, now_ms=now_ms(gw))
    assert_error(await call(gw, "POST", path, headers=unbound), 401, "INVALID_SIGNATURE")
    gw.clock.advance(0.002)
    right = signed_headers(evm_signer, "execute_order", fields | {"domain": A}, now_ms=now_ms(gw))
    executed = await call(gw, "POST", path, headers=right)
    assert executed.status == 200, executed.text


async def test_signing_document_publishes_the_binding(start_gateway: GatewayFactory) -> None:
    gw = await start_gateway(
        signatures={"domain": A, "stacks_network": "testnet", "max_age_s": 120}
    )
    reply = await call(gw, "GET", "/api/v1/signing")
    assert reply.status == 200, reply.text
    assert reply.body == {
        "domain": A,
        "chains": ["stacks", "evm"],
        "stacksNetwork": "testnet",
        "evmChainId": None,
        "maxAgeS": 120,
    }
    assert reply.headers["X-RateLimit-Limit"] == "300"


async def test_unbound_gateway_publishes_no_domain(gateway: RunningGateway) -> None:
    reply = await call(gateway, "GET", "/api/v1/signing")
    assert reply.status == 200, reply.text
    assert reply.body["domain"] is None
