"""/openapi.json describes every answer as it really is.

Real requests to every documented route, both key dialects, success and the
typical errors, against a real gateway and the bundled backend; each real
answer is validated with jsonschema against the schema the served document
gives for its operation and status (an empty or missing schema fails), and
its documented required headers (the rate-limit headers) must be there.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import pytest
from openapi_spec_validator import validate

from gateway.config import ServiceKeySettings
from gateway.wallets.signing import EvmSigner, StacksSigner, signed_body, signed_headers
from tests.conftest import (
    GatewayFactory,
    RunningGateway,
    create_api_key,
    create_order,
    now_ms,
    signed_order,
)
from tests.support.key_api import mid_minute_clock
from tests.support.openapi_check import AnswerChecker

SERVICE_KEY = "stk_service_" + secrets.token_urlsafe(24)
EVM_WALLET = "0x742d35cc6c6c7532b1140da4c8a2f6c8ecfc9b46"
KEY_ID = "/api/v1/api-keys/{keyId}"


class Answers:
    """Sends a request, validates its answer against the document, returns the body."""

    def __init__(self, gw: RunningGateway, checker: AnswerChecker) -> None:
        self.gw = gw
        self.checker = checker

    async def __call__(
        self,
        method: str,
        template: str,
        expect: int,
        path: str | None = None,
        **kwargs: Any,
    ) -> Any:
        url = self.gw.at(path or template)
        async with self.gw.client.request(method, url, **kwargs) as response:
            body = await response.json(content_type=None)
            assert response.status == expect, (method, url, body)
            self.checker.check(method, template, response.status, body, response.headers)
            return body


async def served_document(gw: RunningGateway) -> dict[str, Any]:
    async with gw.client.get(gw.at("/openapi.json")) as response:
        assert response.status == 200
        return await response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def gateway_with_service_key(start_gateway: GatewayFactory) -> RunningGateway:
    service = ServiceKeySettings(
        sha256=hashlib.sha256(SERVICE_KEY.encode()).hexdigest(), name="frontend"
    )
    return await start_gateway(service_keys=[service])


async def wallet_signed_dialect(ask: Answers, gw: RunningGateway, signer: Any) -> None:
    body = signed_body(
        signer, "create_api_key", {"keyName": "bot", "permissions": ["create"]}, now_ms=now_ms(gw)
    )
    created = await ask("POST", "/api/v1/api-keys", 201, json=body)
    key_id = created["keyId"]
    await ask("POST", "/api/v1/api-keys", 401, json=body)  # replayed
    await ask("POST", "/api/v1/api-keys", 400, data=b"{not json")
    await ask("POST", "/api/v1/api-keys", 413, data=b" " * 70_000)
    bad = dict(body, signature="00" * 65)
    await ask("POST", "/api/v1/api-keys", 401, json=bad)

    listed = signed_headers(signer, "list_api_keys", now_ms=now_ms(gw))
    await ask("GET", "/api/v1/api-keys", 200, headers=listed)
    await ask("GET", "/api/v1/api-keys", 401)

    one = signed_headers(signer, "get_api_key", {"keyId": key_id}, now_ms=now_ms(gw))
    await ask("GET", KEY_ID, 200, f"/api/v1/api-keys/{key_id}", headers=one)
    missing = signed_headers(signer, "get_api_key", {"keyId": "key_0"}, now_ms=now_ms(gw))
    await ask("GET", KEY_ID, 404, "/api/v1/api-keys/key_0", headers=missing)

    events = f"/api/v1/api-keys/{key_id}/events"
    trail = signed_headers(signer, "list_api_key_events", {"keyId": key_id}, now_ms=now_ms(gw))
    await ask("GET", KEY_ID + "/events", 200, events, headers=trail)
    await ask("GET", KEY_ID + "/events", 400, events + "?cursor=x", headers=trail)

    rotate = signed_body(signer, "rotate_api_key", {"keyId": key_id}, now_ms=now_ms(gw))
    rotated = await ask(
        "POST", KEY_ID + "/rotate", 201, f"/api/v1/api-keys/{key_id}/rotate", json=rotate
    )
    gone = signed_body(signer, "rotate_api_key", {"keyId": "key_0"}, now_ms=now_ms(gw))
    await ask("POST", KEY_ID + "/rotate", 404, "/api/v1/api-keys/key_0/rotate", json=gone)

    new_id = rotated["keyId"]
    revoke = signed_body(signer, "delete_api_key", {"keyId": new_id}, now_ms=now_ms(gw))
    await ask("DELETE", KEY_ID, 200, f"/api/v1/api-keys/{new_id}", json=revoke)
    again = signed_body(signer, "delete_api_key", {"keyId": "key_0"}, now_ms=now_ms(gw))
    await ask("DELETE", KEY_ID, 404, "/api/v1/api-keys/key_0", json=again)


async def service_key_dialect(ask: Answers) -> None:
    service = {"X-API-Key": SERVICE_KEY, "X-Wallet-Address": EVM_WALLET}
    generated = await ask("POST", "/api-key/generate", 200, headers=service)
    await ask("POST", "/api-key/generate", 409, headers=service)
    await ask("POST", "/api-key/generate", 401, headers={"X-Wallet-Address": EVM_WALLET})
    bad_wallet = {"X-API-Key": SERVICE_KEY, "X-Wallet-Address": "0x123"}
    await ask("POST", "/api-key/generate", 400, headers=bad_wallet)
    wrong = {"X-API-Key": generated["api_key"], "X-Wallet-Address": "0x" + "1" * 40}
    await ask("POST", "/api-key/revoke", 403, headers=wrong)
    await ask("POST", "/api-key/revoke", 200, headers=service)
    await ask("POST", "/api-key/revoke", 404, headers=service)
    await ask("POST", "/api-key/revoke", 401, headers={"X-API-Key": "stk_nonsense"})


async def order_routes(ask: Answers, gw: RunningGateway, signer: Any) -> None:
    key = (await create_api_key(gw, signer, permissions=("create", "execute")))["apiKey"]
    with_key = {"X-API-Key": key}
    order = signed_order(signer)
    await ask("POST", "/api/v1/orders/new", 201, json=order, headers=with_key)
    await ask(
        "POST", "/api/v1/orders/new", 401, json=dict(signed_order(signer), signature="0" * 130)
    )
    await ask("POST", "/api/v1/orders/new", 400, data=b"[1", headers=with_key)
    await ask("POST", "/api/v1/orders/new", 413, data=b" " * 70_000, headers=with_key)
    await ask("POST", "/api/v1/orders/new", 401, json=order, headers={"X-API-Key": "ck_live_x"})

    uuid = order["uuid"]
    one = "/api/v1/orders/{uuid}"
    await ask("GET", one, 200, f"/api/v1/orders/{uuid}")
    await ask("GET", one, 404, "/api/v1/orders/no-such-order")
    await ask("GET", "/api/v1/orders", 200, "/api/v1/orders?owner=" + signer.address)
    await ask("GET", "/api/v1/orders", 400, "/api/v1/orders?limit=0")

    execute = "/api/v1/orders/{uuid}/execute"
    await ask("POST", execute, 404, "/api/v1/orders/no-such-order/execute", headers=with_key)
    await ask("POST", execute, 200, f"/api/v1/orders/{uuid}/execute", headers=with_key)
    cancel = "/api/v1/orders/{uuid}/cancel"
    # The key lacks `cancel`: 403; the owner's signature cancels; a filled order is not open.
    await ask("PATCH", cancel, 403, f"/api/v1/orders/{uuid}/cancel", headers=with_key)
    other = (await create_order(gw, signer))["uuid"]
    signed = signed_headers(signer, "cancel_order", {"uuid": other}, now_ms=now_ms(gw))
    await ask("PATCH", cancel, 200, f"/api/v1/orders/{other}/cancel", headers=signed)
    late = signed_headers(signer, "cancel_order", {"uuid": uuid}, now_ms=now_ms(gw))
    await ask("PATCH", cancel, 400, f"/api/v1/orders/{uuid}/cancel", headers=late)


async def public_routes(ask: Answers) -> None:
    await ask("GET", "/openapi.json", 200)
    await ask("GET", "/api/v1/signing", 200)
    schemes = await ask("GET", "/api/v1/order-schemes", 200)
    name = schemes["schemes"][0]["name"]
    one = "/api/v1/order-schemes/{name}"
    await ask("GET", one, 200, f"/api/v1/order-schemes/{name}")
    await ask("GET", one, 404, "/api/v1/order-schemes/no-such-scheme")


async def test_every_answer_matches_its_documented_schema(
    gateway_with_service_key: RunningGateway,
    stacks_signer: StacksSigner,
    evm_signer: EvmSigner,
) -> None:
    gw = gateway_with_service_key
    checker = AnswerChecker(await served_document(gw))
    ask = Answers(gw, checker)
    await wallet_signed_dialect(ask, gw, stacks_signer)
    await wallet_signed_dialect(ask, gw, evm_signer)
    await service_key_dialect(ask)
    await order_routes(ask, gw, stacks_signer)
    await order_routes(ask, gw, evm_signer)
    await public_routes(ask)
    assert checker.without_success() == set()
    assert len(checker.operation_ids()) == 17


async def test_rate_limited_answers_match_and_carry_retry_after(
    start_gateway: GatewayFactory, stacks_signer: StacksSigner
) -> None:
    gw = await start_gateway(
        clock=mid_minute_clock(),
        rate_limits={"public_per_minute": 1, "management_per_minute": 1},
    )
    checker = AnswerChecker(await served_document(gw))
    ask = Answers(gw, checker)
    async with gw.client.get(gw.at("/api/v1/orders")) as response:
        assert response.status == 429
        assert "Retry-After" in response.headers
    await ask("GET", "/api/v1/orders", 429)
    await ask("GET", "/api/v1/signing", 429)
    first = signed_headers(stacks_signer, "list_api_keys", now_ms=now_ms(gw))
    await ask("GET", "/api/v1/api-keys", 200, headers=first)
    second = signed_headers(stacks_signer, "list_api_keys", {"n": 2}, now_ms=now_ms(gw))
    await ask("GET", "/api/v1/api-keys", 429, headers=second)
    assert ("listApiKeys", 429) in checker.seen


async def test_every_documented_answer_has_a_schema(gateway: RunningGateway) -> None:
    document = await served_document(gateway)
    validate(document)  # openapi-spec-validator: a valid OpenAPI 3.1 document
    checker = AnswerChecker(document)
    for operations in document["paths"].values():
        for operation in operations.values():
            assert operation["operationId"][:1].islower()
            for status in operation["responses"]:
                checker.response_schema(operation, int(status))
    schemes = document["components"]["securitySchemes"]
    assert {s["name"] for s in schemes.values()} == {
        "X-API-Key",
        "X-Message",
        "X-Signature",
        "X-Wallet-Address",
    }
    assert document["servers"]
