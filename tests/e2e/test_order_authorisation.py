"""Who may create, execute and cancel which order.

Every row asserts the status, the error code, and what the backend saw:
the order's state read from the backend directly, and the requests that
the gateway forwarded to it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.keys.model import KeyStatus
from gateway.wallets.signed import canonical_order_message
from gateway.wallets.signing import EvmSigner, StacksSigner, sign_order, signed_body, signed_headers
from tests.conftest import (
    RunningGateway,
    create_api_key,
    create_order,
    now_ms,
    order_body,
    signed_order,
)

# Also on Redis + PostgreSQL, not only the embedded defaults.
pytestmark = pytest.mark.deployments

Signer = StacksSigner | EvmSigner
# Requests this file sends straight to the backend carry this header, so they
# can be told apart from what the gateway forwarded.
DIRECT = {"X-Test-Direct": "1"}
CREDENTIAL_HEADERS = ("X-API-Key", "X-Signature", "X-Message", "X-Wallet-Address", "X-Public-Key")


@dataclass(frozen=True, slots=True)
class Action:
    method: str
    verb: str  # path suffix
    signed_action: str
    permission: str
    final_status: str  # the order's status at the backend afterwards


EXECUTE = Action("POST", "execute", "execute_order", "execute", "filled")
CANCEL = Action("PATCH", "cancel", "cancel_order", "cancel", "cancelled")
ACTIONS = pytest.mark.parametrize("action", [EXECUTE, CANCEL], ids=["execute", "cancel"])


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any


async def call(
    gw: RunningGateway,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    json: Any = None,
) -> Answer:
    async with gw.client.request(method, gw.at(path), headers=headers, json=json) as response:
        return Answer(response.status, await response.json())


async def act(
    gw: RunningGateway, action: Action, uuid: str, headers: dict[str, str], json: Any = None
) -> Answer:
    return await call(gw, action.method, f"/api/v1/orders/{uuid}/{action.verb}", headers, json)


def key_headers(key: dict[str, Any]) -> dict[str, str]:
    return {"X-API-Key": key["apiKey"]}


def owner_headers(gw: RunningGateway, signer: Signer, action: Action, uuid: str) -> dict[str, str]:
    return signed_headers(signer, action.signed_action, {"uuid": uuid}, now_ms=now_ms(gw))


async def backend_status(gw: RunningGateway, uuid: str) -> str | None:
    """The order's status as the backend keeps it; None when it has no such order."""
    url = f"{gw.backend_url}/api/v1/orders/{uuid}"
    async with gw.client.get(url, headers=DIRECT) as response:
        if response.status == 404:
            return None
        assert response.status == 200, await response.text()
        return (await response.json())["data"]["status"]


async def create_at_backend(gw: RunningGateway, signer: Signer, owner: str | None = None) -> str:
    """An order placed at the backend directly, so the gateway has never seen it."""
    order = sign_order(signer, order_body(owner or signer.address))
    url = f"{gw.backend_url}/api/v1/orders/new"
    async with gw.client.post(url, json=order, headers=DIRECT) as response:
        assert response.status == 201, await response.text()
    return order["uuid"]


def forwarded(gw: RunningGateway, method: str | None = None, suffix: str = "") -> list[dict]:
    """What the gateway forwarded (or looked up) at the backend."""
    return [
        r
        for r in gw.backend_requests
        if "X-Test-Direct" not in r["headers"]
        and (method is None or r["method"] == method)
        and r["path"].split("?")[0].endswith(suffix)
    ]


def writes(gw: RunningGateway, uuid: str) -> list[dict]:
    return [r for r in forwarded(gw) if r["method"] != "GET" and uuid in r["path"]]


def order_lookups(gw: RunningGateway, uuid: str) -> list[dict]:
    return forwarded(gw, "GET", f"/api/v1/orders/{uuid}")


# -- creating orders ----------------------------------------------------------------


async def test_key_with_create_and_owner_signature_creates_order(gateway, stacks_signer):
    key = await create_api_key(gateway, stacks_signer)
    order = signed_order(stacks_signer)
    answer = await call(gateway, "POST", "/api/v1/orders/new", key_headers(key), order)
    assert answer.status == 201, answer.body
    assert answer.body["status"] == "success"
    assert answer.body["data"]["uuid"] == order["uuid"]
    assert await backend_status(gateway, order["uuid"]) == "open"
    (seen,) = forwarded(gateway, "POST", "/api/v1/orders/new")
    assert seen["headers"]["X-Gateway-Auth"] == "api_key"
    assert seen["headers"]["X-Gateway-Key-Id"] == key["keyId"]
    assert seen["headers"]["X-Gateway-Wallet"] == stacks_signer.address


async def test_key_without_create_permission_cannot_create(gateway, stacks_signer):
    key = await create_api_key(gateway, stacks_signer, permissions=("execute", "cancel"))
    order = signed_order(stacks_signer)
    answer = await call(gateway, "POST", "/api/v1/orders/new", key_headers(key), order)
    assert answer.status == 403
    assert answer.body["code"] == "PERMISSION_DENIED"
    assert answer.body["details"] == {"required": "create", "granted": ["execute", "cancel"]}
    assert forwarded(gateway) == []
    assert await backend_status(gateway, order["uuid"]) is None


async def test_key_of_another_wallet_cannot_create_for_the_owner(
    gateway, stacks_signer, other_stacks_signer
):
    stranger_key = await create_api_key(gateway, other_stacks_signer)
    order = signed_order(stacks_signer)  # validly signed by its owner
    answer = await call(gateway, "POST", "/api/v1/orders/new", key_headers(stranger_key), order)
    assert answer.status == 403
    assert answer.body["code"] == "WALLET_MISMATCH"
    assert answer.body["details"] == {
        "apiKeyWallet": other_stacks_signer.address,
        "orderOwner": stacks_signer.address,
        "orderUuid": order["uuid"],
    }
    assert forwarded(gateway) == []
    assert await backend_status(gateway, order["uuid"]) is None


async def test_key_of_the_owner_still_needs_the_owners_signature(
    gateway, stacks_signer, other_stacks_signer
):
    key = await create_api_key(gateway, stacks_signer)
    unsigned = order_body(stacks_signer.address)
    order = {**unsigned, "signature": other_stacks_signer.sign(canonical_order_message(unsigned))}
    answer = await call(gateway, "POST", "/api/v1/orders/new", key_headers(key), order)
    assert answer.status == 401
    assert answer.body["code"] == "INVALID_SIGNATURE"
    assert forwarded(gateway) == []
    assert await backend_status(gateway, order["uuid"]) is None


async def test_owner_signature_alone_creates_order(gateway, stacks_signer):
    order = signed_order(stacks_signer)
    answer = await call(gateway, "POST", "/api/v1/orders/new", None, order)
    assert answer.status == 201, answer.body
    assert await backend_status(gateway, order["uuid"]) == "open"
    (seen,) = forwarded(gateway, "POST", "/api/v1/orders/new")
    assert seen["headers"]["X-Gateway-Auth"] == "signature"
    assert seen["headers"]["X-Gateway-Wallet"] == stacks_signer.address
    assert "X-Gateway-Key-Id" not in seen["headers"]


async def test_order_signed_by_another_wallet_alone_is_refused(
    gateway, stacks_signer, other_stacks_signer
):
    unsigned = order_body(stacks_signer.address)
    order = {**unsigned, "signature": other_stacks_signer.sign(canonical_order_message(unsigned))}
    answer = await call(gateway, "POST", "/api/v1/orders/new", None, order)
    assert (answer.status, answer.body["code"]) == (401, "INVALID_SIGNATURE")
    assert forwarded(gateway) == []


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "signature-only"])
@pytest.mark.parametrize(
    "field, value",
    [("amountIn", "999999999"), ("recipient", "SP000000000000000000002Q6VF78"), ("extra", "x")],
)
async def test_order_changed_after_signing_is_refused(
    gateway, stacks_signer, with_key, field, value
):
    headers = key_headers(await create_api_key(gateway, stacks_signer)) if with_key else None
    order = {**signed_order(stacks_signer), field: value}
    answer = await call(gateway, "POST", "/api/v1/orders/new", headers, order)
    assert (answer.status, answer.body["code"]) == (401, "INVALID_SIGNATURE")
    assert forwarded(gateway) == []
    assert await backend_status(gateway, order["uuid"]) is None


# -- executing and cancelling ----------------------------------------------------------


@ACTIONS
async def test_owner_key_acts_on_own_order(gateway, stacks_signer, action):
    key = await create_api_key(gateway, stacks_signer)
    order = await create_order(gateway, stacks_signer, api_key=key["apiKey"])
    answer = await act(gateway, action, order["uuid"], key_headers(key))
    assert answer.status == 200, answer.body
    assert answer.body["status"] == "success"
    assert await backend_status(gateway, order["uuid"]) == action.final_status
    (seen,) = writes(gateway, order["uuid"])
    assert seen["headers"]["X-Gateway-Key-Id"] == key["keyId"]


@ACTIONS
async def test_key_of_another_wallet_cannot_act_on_the_order(
    gateway, stacks_signer, other_stacks_signer, action
):
    order = await create_order(gateway, stacks_signer)
    stranger_key = await create_api_key(gateway, other_stacks_signer)
    answer = await act(gateway, action, order["uuid"], key_headers(stranger_key))
    assert answer.status == 403
    assert answer.body["error"] == "API key not authorized for this wallet"
    assert answer.body["code"] == "WALLET_MISMATCH"
    # Exactly the documents' example error.
    assert answer.body["details"] == {
        "apiKeyWallet": other_stacks_signer.address,
        "orderOwner": stacks_signer.address,
        "orderUuid": order["uuid"],
    }
    assert writes(gateway, order["uuid"]) == []
    assert await backend_status(gateway, order["uuid"]) == "open"


@ACTIONS
async def test_key_lacking_the_permission_cannot_act(gateway, stacks_signer, action):
    others = tuple(p for p in ("create", "execute", "cancel") if p != action.permission)
    key = await create_api_key(gateway, stacks_signer, permissions=others)
    order = await create_order(gateway, stacks_signer, api_key=key["apiKey"])
    answer = await act(gateway, action, order["uuid"], key_headers(key))
    assert answer.status == 403
    assert answer.body["code"] == "PERMISSION_DENIED"
    assert answer.body["details"] == {"required": action.permission, "granted": list(others)}
    assert writes(gateway, order["uuid"]) == []
    assert await backend_status(gateway, order["uuid"]) == "open"


async def revoke(gw: RunningGateway, signer: Signer, key: dict[str, Any]) -> None:
    body = signed_body(signer, "delete_api_key", {"keyId": key["keyId"]}, now_ms=now_ms(gw))
    answer = await call(gw, "DELETE", f"/api/v1/api-keys/{key['keyId']}", None, body)
    assert answer.status == 200, answer.body


async def suspend(gw: RunningGateway, signer: Signer, key: dict[str, Any]) -> None:
    await gw.gw.keys.set_status(key["keyId"], KeyStatus.SUSPENDED)


async def let_expire(gw: RunningGateway, signer: Signer, key: dict[str, Any]) -> None:
    gw.clock.advance(600)


def expiry_fields(state: str) -> dict[str, Any]:
    if state != "expired":
        return {}
    return {"expiresAt": (datetime.now(UTC) + timedelta(seconds=300)).isoformat()}


@ACTIONS
@pytest.mark.parametrize(
    "state, make_inactive",
    [("revoked", revoke), ("suspended", suspend), ("expired", let_expire)],
    ids=["revoked", "suspended", "expired"],
)
async def test_inactive_key_cannot_act(gateway, stacks_signer, action, state, make_inactive):
    key = await create_api_key(gateway, stacks_signer, **expiry_fields(state))
    order = await create_order(gateway, stacks_signer, api_key=key["apiKey"])
    await make_inactive(gateway, stacks_signer, key)
    answer = await act(gateway, action, order["uuid"], key_headers(key))
    assert answer.status == 401
    assert answer.body["code"] == "API_KEY_INACTIVE"
    assert writes(gateway, order["uuid"]) == []
    assert await backend_status(gateway, order["uuid"]) == "open"


@ACTIONS
async def test_owner_signature_in_headers_acts_on_own_order(gateway, stacks_signer, action):
    order = await create_order(gateway, stacks_signer)
    headers = owner_headers(gateway, stacks_signer, action, order["uuid"])
    answer = await act(gateway, action, order["uuid"], headers)
    assert answer.status == 200, answer.body
    assert await backend_status(gateway, order["uuid"]) == action.final_status
    (seen,) = writes(gateway, order["uuid"])
    assert seen["headers"]["X-Gateway-Auth"] == "signature"
    assert seen["headers"]["X-Gateway-Wallet"] == stacks_signer.address


@ACTIONS
async def test_owner_signature_in_body_acts_on_own_order(gateway, stacks_signer, action):
    order = await create_order(gateway, stacks_signer)
    body = signed_body(
        stacks_signer, action.signed_action, {"uuid": order["uuid"]}, now_ms=now_ms(gateway)
    )
    answer = await act(gateway, action, order["uuid"], None, body)
    assert answer.status == 200, answer.body
    assert await backend_status(gateway, order["uuid"]) == action.final_status
    # The signed message stays at the gateway: the upstream gets no body at all.
    (seen,) = writes(gateway, order["uuid"])
    assert seen["headers"].get("Content-Length", "0") == "0"


@ACTIONS
async def test_signature_of_another_wallet_cannot_act(
    gateway, stacks_signer, other_stacks_signer, action
):
    order = await create_order(gateway, stacks_signer)
    headers = owner_headers(gateway, other_stacks_signer, action, order["uuid"])
    answer = await act(gateway, action, order["uuid"], headers)
    assert (answer.status, answer.body["code"]) == (403, "WALLET_MISMATCH")
    assert writes(gateway, order["uuid"]) == []
    assert await backend_status(gateway, order["uuid"]) == "open"


@ACTIONS
async def test_signature_bound_to_another_order_is_refused(gateway, stacks_signer, action):
    order = await create_order(gateway, stacks_signer)
    other = await create_order(gateway, stacks_signer)
    headers = owner_headers(gateway, stacks_signer, action, other["uuid"])
    answer = await act(gateway, action, order["uuid"], headers)
    assert (answer.status, answer.body["code"]) == (401, "INVALID_SIGNATURE")
    assert writes(gateway, order["uuid"]) == []
    assert await backend_status(gateway, order["uuid"]) == "open"
    assert await backend_status(gateway, other["uuid"]) == "open"


async def test_signature_for_another_action_is_refused(gateway, stacks_signer):
    order = await create_order(gateway, stacks_signer)
    headers = owner_headers(gateway, stacks_signer, CANCEL, order["uuid"])
    answer = await act(gateway, EXECUTE, order["uuid"], headers)
    assert (answer.status, answer.body["code"]) == (400, "INVALID_MESSAGE")
    assert writes(gateway, order["uuid"]) == []


@ACTIONS
async def test_replayed_signature_is_refused_before_the_backend(gateway, stacks_signer, action):
    order = await create_order(gateway, stacks_signer)
    headers = owner_headers(gateway, stacks_signer, action, order["uuid"])
    first = await act(gateway, action, order["uuid"], headers)
    assert first.status == 200, first.body
    again = await act(gateway, action, order["uuid"], headers)
    assert (again.status, again.body["code"]) == (401, "SIGNATURE_REPLAYED")
    assert len(writes(gateway, order["uuid"])) == 1


@ACTIONS
@pytest.mark.parametrize("by", ["key", "signature"])
async def test_unknown_order_is_not_found_and_nothing_is_written(
    gateway, stacks_signer, action, by
):
    uuid = "uuid-never-created"
    if by == "key":
        headers = key_headers(await create_api_key(gateway, stacks_signer))
    else:
        headers = owner_headers(gateway, stacks_signer, action, uuid)
    answer = await act(gateway, action, uuid, headers)
    assert answer.status == 404
    assert answer.body["code"] == "ORDER_NOT_FOUND"
    assert writes(gateway, uuid) == []
    assert [r["method"] for r in forwarded(gateway)] == ["GET"]


@pytest.mark.parametrize(
    "first, then", [(EXECUTE, EXECUTE), (EXECUTE, CANCEL), (CANCEL, EXECUTE), (CANCEL, CANCEL)]
)
async def test_order_no_longer_open_is_passed_through(gateway, stacks_signer, first, then):
    key = await create_api_key(gateway, stacks_signer)
    order = await create_order(gateway, stacks_signer, api_key=key["apiKey"])
    assert (await act(gateway, first, order["uuid"], key_headers(key))).status == 200
    answer = await act(gateway, then, order["uuid"], key_headers(key))
    assert answer.status == 400
    assert answer.body["code"] == "ORDER_NOT_OPEN"
    assert answer.body["error"] == "Order not open"
    assert await backend_status(gateway, order["uuid"]) == first.final_status
    assert len(writes(gateway, order["uuid"])) == 2


# -- what reaches the backend ------------------------------------------------------------

SPOOFED = {
    "X-Gateway-Wallet": "SP000000000000000000002Q6VF78",
    "X-Gateway-Key-Id": "key_0000000000000000",
    "X-Gateway-Auth": "api_key",
}


async def test_backend_sees_the_real_key_identity_never_a_spoofed_one(
    gateway, stacks_signer, other_stacks_signer
):
    key = await create_api_key(gateway, stacks_signer)
    order = await create_order(gateway, stacks_signer, api_key=key["apiKey"])
    headers = {**key_headers(key), **SPOOFED, "X-Wallet-Address": other_stacks_signer.address}
    assert (await act(gateway, EXECUTE, order["uuid"], headers)).status == 200
    (seen,) = writes(gateway, order["uuid"])
    assert seen["headers"]["X-Gateway-Wallet"] == stacks_signer.address
    assert seen["headers"]["X-Gateway-Key-Id"] == key["keyId"]
    assert seen["headers"]["X-Gateway-Auth"] == "api_key"
    assert not set(CREDENTIAL_HEADERS) & set(seen["headers"])


async def test_backend_sees_the_real_signer_never_a_spoofed_one(gateway, stacks_signer):
    order = await create_order(gateway, stacks_signer)
    headers = {
        **owner_headers(gateway, stacks_signer, CANCEL, order["uuid"]),
        **SPOOFED,
        "X-Public-Key": stacks_signer.public_key_hex,
    }
    assert (await act(gateway, CANCEL, order["uuid"], headers)).status == 200
    (seen,) = writes(gateway, order["uuid"])
    assert seen["headers"]["X-Gateway-Wallet"] == stacks_signer.address
    assert seen["headers"]["X-Gateway-Auth"] == "signature"
    assert "X-Gateway-Key-Id" not in seen["headers"]
    assert not set(CREDENTIAL_HEADERS) & set(seen["headers"])


async def test_public_read_reaches_the_backend_as_public(gateway, stacks_signer):
    order = await create_order(gateway, stacks_signer)
    answer = await call(gateway, "GET", f"/api/v1/orders/{order['uuid']}", SPOOFED)
    assert answer.status == 200
    (seen,) = order_lookups(gateway, order["uuid"])
    assert seen["headers"]["X-Gateway-Auth"] == "public"
    assert "X-Gateway-Wallet" not in seen["headers"]
    assert "X-Gateway-Key-Id" not in seen["headers"]


@pytest.mark.parametrize(
    "bad_key",
    ["ck_live_garbage", "ck_live_" + "A" * 43 + "000000", "not-a-key"],
    ids=["malformed", "bad-checksum", "foreign"],
)
async def test_bad_key_on_a_public_route_is_refused_not_downgraded(gateway, stacks_signer, bad_key):
    order = await create_order(gateway, stacks_signer)
    for path in (f"/api/v1/orders/{order['uuid']}", "/api/v1/orders"):
        answer = await call(gateway, "GET", path, {"X-API-Key": bad_key})
        assert (answer.status, answer.body["code"]) == (401, "INVALID_API_KEY")
    assert forwarded(gateway, "GET") == []


async def test_revoked_key_on_a_public_route_is_refused(gateway, stacks_signer):
    key = await create_api_key(gateway, stacks_signer)
    order = await create_order(gateway, stacks_signer, api_key=key["apiKey"])
    await revoke(gateway, stacks_signer, key)
    answer = await call(gateway, "GET", f"/api/v1/orders/{order['uuid']}", key_headers(key))
    assert (answer.status, answer.body["code"]) == (401, "API_KEY_INACTIVE")
    assert forwarded(gateway, "GET") == []


# -- learning the owner ------------------------------------------------------------------


async def test_order_created_through_the_gateway_needs_no_owner_lookup(gateway, stacks_signer):
    key = await create_api_key(gateway, stacks_signer)
    order = await create_order(gateway, stacks_signer, api_key=key["apiKey"])
    assert (await act(gateway, EXECUTE, order["uuid"], key_headers(key))).status == 200
    assert order_lookups(gateway, order["uuid"]) == []
    assert [r["method"] for r in forwarded(gateway)] == ["POST", "POST"]


async def test_order_created_elsewhere_is_looked_up_once(gateway, stacks_signer):
    key = await create_api_key(gateway, stacks_signer)
    uuid = await create_at_backend(gateway, stacks_signer)
    assert (await act(gateway, EXECUTE, uuid, key_headers(key))).status == 200
    again = await act(gateway, CANCEL, uuid, key_headers(key))
    assert (again.status, again.body["code"]) == (400, "ORDER_NOT_OPEN")
    assert [r["method"] for r in forwarded(gateway)] == ["GET", "POST", "PATCH"]


async def test_concurrent_actions_on_one_order_share_one_lookup(gateway, stacks_signer):
    key = await create_api_key(gateway, stacks_signer)
    uuid = await create_at_backend(gateway, stacks_signer)
    answers = await asyncio.gather(
        *(act(gateway, EXECUTE, uuid, key_headers(key)) for _ in range(6)),
        *(act(gateway, CANCEL, uuid, key_headers(key)) for _ in range(2)),
    )
    assert len(order_lookups(gateway, uuid)) == 1
    assert sorted(a.status for a in answers) == [200] + [400] * 7
    assert {a.body["code"] for a in answers if a.status == 400} == {"ORDER_NOT_OPEN"}
    assert await backend_status(gateway, uuid) in ("filled", "cancelled")


# -- EVM wallets ------------------------------------------------------------------------------


async def test_evm_key_acts_on_lower_case_owner_orders(gateway, evm_signer):
    assert evm_signer.address != evm_signer.address.lower()  # checksummed
    key = await create_api_key(gateway, evm_signer)
    order = sign_order(evm_signer, order_body(evm_signer.address.lower()))
    created = await call(gateway, "POST", "/api/v1/orders/new", key_headers(key), order)
    assert created.status == 201, created.body
    assert (await act(gateway, EXECUTE, order["uuid"], key_headers(key))).status == 200
    assert await backend_status(gateway, order["uuid"]) == "filled"

    elsewhere = await create_at_backend(gateway, evm_signer, "0x" + evm_signer.address[2:].upper())
    headers = owner_headers(gateway, evm_signer, CANCEL, elsewhere)
    assert (await act(gateway, CANCEL, elsewhere, headers)).status == 200
    assert await backend_status(gateway, elsewhere) == "cancelled"


async def test_evm_key_cannot_act_on_another_wallets_order(gateway, evm_signer, stacks_signer):
    key = await create_api_key(gateway, evm_signer)
    order = await create_order(gateway, stacks_signer)
    answer = await act(gateway, EXECUTE, order["uuid"], key_headers(key))
    assert (answer.status, answer.body["code"]) == (403, "WALLET_MISMATCH")
    assert answer.body["details"] == {
        "apiKeyWallet": evm_signer.address,
        "orderOwner": stacks_signer.address,
        "orderUuid": order["uuid"],
    }
    assert await backend_status(gateway, order["uuid"]) == "open"


async def test_evm_signature_only_order_with_mixed_case_owner(gateway, evm_signer):
    order = signed_order(evm_signer)  # owner as the wallet spells it (EIP-55)
    assert (await call(gateway, "POST", "/api/v1/orders/new", None, order)).status == 201
    headers = owner_headers(gateway, evm_signer, EXECUTE, order["uuid"])
    assert (await act(gateway, EXECUTE, order["uuid"], headers)).status == 200
    assert await backend_status(gateway, order["uuid"]) == "filled"
