"""Key management's answers: never cached, 405 for undeclared methods, the seed's codes.

Answers that carry a key (create, rotate, /api-key/generate) or a wallet's
keys (lists, reads, the audit trail) say `Cache-Control: no-store`. A method
no route declares on a key-management path is 405 with `Allow` and the error
body, as on the order routes. The service-key dialect answers with the codes
of seed 001's table.
"""

from __future__ import annotations

import hashlib
import secrets

import pytest

from gateway.config import ServiceKeySettings
from gateway.errors import ErrorCode
from gateway.keys.model import KeyStatus
from gateway.wallets.signing import Signer, signed_body
from tests.conftest import RunningGateway, create_api_key, now_ms
from tests.support.key_api import Reply, assert_error, call, tick

SERVICE_KEY = "stk_service_" + secrets.token_urlsafe(24)
WALLET = "0x742d35cc6c6c7532b1140da4c8a2f6c8ecfc9b46"


@pytest.fixture
async def gw(start_gateway) -> RunningGateway:
    service = ServiceKeySettings(sha256=hashlib.sha256(SERVICE_KEY.encode()).hexdigest())
    return await start_gateway(service_keys=[service])


async def service_call(
    gw: RunningGateway, path: str, api_key: str | None = SERVICE_KEY, wallet: str | None = WALLET
) -> Reply:
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["X-API-Key"] = api_key
    if wallet is not None:
        headers["X-Wallet-Address"] = wallet
    return await call(gw, "POST", path, headers=headers)


async def signed(
    gw: RunningGateway, signer: Signer, method: str, path: str, action: str, **fields: object
) -> Reply:
    tick(gw)
    body = signed_body(signer, action, fields, now_ms=now_ms(gw))
    return await call(gw, method, path, json=body)


def assert_no_store(reply: Reply, status: int) -> None:
    assert reply.status == status, reply.text
    assert reply.headers.get("Cache-Control") == "no-store", dict(reply.headers)


# -- item 8: answers with keys in them are never stored by a cache ----------------------------


async def test_created_and_rotated_keys_are_answered_no_store(gw, stacks_signer):
    created = await signed(
        gw, stacks_signer, "POST", "/api/v1/api-keys", "create_api_key", keyName="bot"
    )
    assert_no_store(created, 201)
    key_id = created.body["keyId"]
    rotated = await signed(
        gw,
        stacks_signer,
        "POST",
        f"/api/v1/api-keys/{key_id}/rotate",
        "rotate_api_key",
        keyId=key_id,
    )
    assert_no_store(rotated, 201)
    assert rotated.body["apiKey"].startswith("ck_live_")


async def test_key_lists_and_reads_are_answered_no_store(gw, stacks_signer):
    key_id = (await create_api_key(gw, stacks_signer))["keyId"]
    listed = await signed(gw, stacks_signer, "GET", "/api/v1/api-keys", "list_api_keys")
    assert_no_store(listed, 200)
    read = await signed(
        gw, stacks_signer, "GET", f"/api/v1/api-keys/{key_id}", "get_api_key", keyId=key_id
    )
    assert_no_store(read, 200)
    events = await signed(
        gw,
        stacks_signer,
        "GET",
        f"/api/v1/api-keys/{key_id}/events",
        "list_api_key_events",
        keyId=key_id,
    )
    assert_no_store(events, 200)


async def test_a_generated_key_is_answered_no_store(gw):
    generated = await service_call(gw, "/api-key/generate")
    assert_no_store(generated, 200)
    assert generated.body["api_key"].startswith("stk_")


# -- item 9: undeclared methods on key-management paths are 405, never 404 --------------------


@pytest.mark.parametrize(
    ("method", "path", "allow", "evm"),
    [
        ("DELETE", "/api-key/generate", "POST", True),
        ("GET", "/api-key/revoke", "POST", True),
        ("TRACE", "/api/v1/api-keys", "GET, POST", False),
        ("PUT", "/api/v1/api-keys", "GET, POST", False),
        ("HEAD", "/api/v1/api-keys", "GET, POST", False),
        ("PATCH", "/api/v1/api-keys/key_0123456789abcdef", "DELETE, GET", False),
        ("GET", "/api/v1/api-keys/key_0123456789abcdef/rotate", "POST", False),
        ("POST", "/api/v1/api-keys/key_0123456789abcdef/events", "GET", False),
    ],
)
async def test_undeclared_methods_on_key_paths_are_405_with_allow(gw, method, path, allow, evm):
    reply = await call(gw, method, path)
    assert reply.status == 405, reply.text
    assert reply.headers["Allow"] == allow
    if method != "HEAD":  # a HEAD answer has no body to show
        assert_error(reply, 405, ErrorCode.METHOD_NOT_ALLOWED, evm=evm)
        assert reply.body["details"] == {"allowed": allow.split(", ")}
    assert await gw.gw.store.list_keys() == []


# -- seed 001's error codes for /api-key/generate (and /api-key/revoke alike) ----------------


@pytest.mark.parametrize("path", ["/api-key/generate", "/api-key/revoke"])
@pytest.mark.parametrize(
    "presented",
    [
        "stk_service_key_or_existing_key",  # the documents' placeholder: no such key
        "stk_" + "a" * 49,  # well formed, bad checksum
        SERVICE_KEY + "x",  # a service key, mistyped
        "ck_live_" + "a" * 49,  # the other dialect's prefix
    ],
)
async def test_an_invalid_service_key_or_key_is_unauthorized(gw, path, presented):
    reply = await service_call(gw, path, api_key=presented)
    assert_error(reply, 401, ErrorCode.UNAUTHORIZED, evm=True)
    assert await gw.gw.store.list_keys() == []


async def test_the_seed_codes_of_generate(gw):
    missing = await service_call(gw, "/api-key/generate", api_key=None)
    assert_error(missing, 401, ErrorCode.UNAUTHORIZED, evm=True)
    bad_wallet = await service_call(gw, "/api-key/generate", wallet="0x742d35cc")
    assert_error(bad_wallet, 400, ErrorCode.INVALID_WALLET, evm=True)
    assert (await service_call(gw, "/api-key/generate")).status == 200
    again = await service_call(gw, "/api-key/generate")
    assert_error(again, 409, ErrorCode.API_KEY_EXISTS, evm=True)
    [key] = await gw.gw.store.list_keys()
    assert key.status == KeyStatus.ACTIVE


async def test_the_v1_dialect_keeps_invalid_api_key(gw):
    # Only the service-key dialect renames the code; the signed dialect's order
    # routes keep INVALID_API_KEY (product section 4).
    reply = await call(gw, "GET", "/api/v1/orders", headers={"X-API-Key": "ck_live_nope"})
    assert_error(reply, 401, ErrorCode.INVALID_API_KEY)


# -- auth mode: key management is walletgate's own, whatever carries the traffic -------------

AUTH_MODE = {"mode": "auth", "trusted_proxies": ("127.0.0.1/32",)}


async def test_auth_mode_serves_key_management_and_never_decides_it(start_gateway, stacks_signer):
    gw = await start_gateway(listen=AUTH_MODE)
    created = await signed(
        gw, stacks_signer, "POST", "/api/v1/api-keys", "create_api_key", keyName="bot"
    )
    assert_no_store(created, 201)
    wrong = await call(gw, "DELETE", "/api-key/generate")
    assert (wrong.status, wrong.headers["Allow"]) == (405, "POST")
    asked = {"X-Original-Method": "POST", "X-Original-URI": "/api/v1/api-keys"}
    decision = await call(gw, "GET", "/_walletgate/auth", headers=asked)
    assert_error(decision, 400, ErrorCode.BAD_REQUEST)
    assert "walletgate" in decision.body["details"]["reason"]
