"""Key management end to end: real gateway, real backend, real SQLite.

The documented JavaScript flows are translated literally: the same messages,
the same body and header forms, the same response shapes.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from backend.app import create_app as create_backend_app
from gateway.app import build_app
from gateway.errors import ErrorCode
from gateway.keys.model import KeyStatus
from gateway.keys.store import open_store
from gateway.wallets.signing import signed_body
from tests.conftest import (
    Clock,
    RunningGateway,
    create_api_key,
    create_order,
    make_settings,
    now_ms,
)
from tests.support.key_api import (
    CREATE,
    DELETE,
    GET,
    ISO_UTC,
    KEY_ID,
    LIST,
    LIST_ITEM_FIELDS,
    ROTATE,
    SECRET_FIELDS,
    SIGNED_ENDPOINTS,
    USAGE_FIELDS,
    Endpoint,
    Form,
    assert_error,
    call,
    execute_with_key,
    mid_minute_clock,
    probe_key,
    send,
    sign_for,
    signed_call,
    store_snapshot,
    wait_for_status,
)

# Also on Redis + PostgreSQL, not only the embedded defaults.
pytestmark = pytest.mark.deployments

FULL = ["create", "execute", "cancel"]


async def list_keys(gw: RunningGateway, signer: Any) -> list[dict[str, Any]]:
    reply = await signed_call(gw, signer, LIST, form=Form.HEADERS)
    assert reply.status == 200, reply.text
    return reply.body["apiKeys"]


def assert_listing_item(item: dict[str, Any], plaintext: str) -> None:
    assert set(item) >= LIST_ITEM_FIELDS, item
    assert not SECRET_FIELDS & set(item), item
    assert plaintext not in json.dumps(item)
    assert KEY_ID.match(item["id"])
    assert set(item["usageStats"]) == USAGE_FIELDS
    assert ISO_UTC.match(item["createdAt"])
    assert item["keyHint"].startswith("ck_live_")


# -- the documented flows-----------------------------------------------------------


async def test_documented_create_list_revoke_flow(gateway, stacks_signer):
    # Creating an API Key: body form, exactly the documents' message.
    message = json.dumps(
        {
            "action": "create_api_key",
            "keyName": "My Trading Bot",
            "permissions": FULL,
            "timestamp": now_ms(gateway),
        }
    )
    created = await call(
        gateway,
        "POST",
        "/api/v1/api-keys",
        json={
            "message": message,
            "signature": stacks_signer.sign(message),
            "walletAddress": stacks_signer.address,
        },
    )
    assert created.status == 201, created.text
    api_key = created.body["apiKey"]
    key_id = created.body["keyId"]
    assert api_key.startswith("ck_live_")
    assert KEY_ID.match(key_id)
    assert created.body["name"] == "My Trading Bot"
    assert created.body["permissions"] == FULL
    assert created.body["rateLimit"] == 100
    assert ISO_UTC.match(created.body["createdAt"])

    order = await create_order(gateway, stacks_signer, api_key=api_key)
    executed = await execute_with_key(gateway, api_key, order["uuid"])
    assert executed.status == 200, executed.text

    # Listing Your API Keys: header form.
    message = json.dumps({"action": "list_api_keys", "timestamp": now_ms(gateway)})
    listed = await call(
        gateway,
        "GET",
        "/api/v1/api-keys",
        headers={
            "X-Message": message,
            "X-Signature": stacks_signer.sign(message),
            "X-Wallet-Address": stacks_signer.address,
        },
    )
    assert listed.status == 200, listed.text
    assert set(listed.body) == {"apiKeys"}
    [item] = listed.body["apiKeys"]
    assert_listing_item(item, api_key)
    assert item["id"] == key_id
    assert item["name"] == "My Trading Bot"
    assert item["status"] == "active"
    assert item["permissions"] == FULL
    assert item["rateLimit"] == 100
    usage = item["usageStats"]
    assert usage["totalRequests"] >= 2
    assert usage["successfulRequests"] == usage["totalRequests"]
    assert usage["creationCount"] == 1 and usage["executionCount"] == 1
    assert ISO_UTC.match(item["lastUsedAt"])

    # Revoking an API Key: body form, keyId bound in the message.
    message = json.dumps(
        {"action": "delete_api_key", "keyId": key_id, "timestamp": now_ms(gateway)}
    )
    revoked = await call(
        gateway,
        "DELETE",
        f"/api/v1/api-keys/{key_id}",
        json={
            "message": message,
            "signature": stacks_signer.sign(message),
            "walletAddress": stacks_signer.address,
        },
    )
    assert revoked.status == 200, revoked.text
    assert revoked.body == {"message": "API key 'My Trading Bot' has been revoked"}

    refused = await execute_with_key(gateway, api_key, order["uuid"])
    assert_error(refused, 401, ErrorCode.API_KEY_INACTIVE)
    [item] = await list_keys(gateway, stacks_signer)
    assert item["status"] == "revoked"


@pytest.mark.parametrize("form", list(Form))
async def test_every_signed_endpoint_accepts_body_and_header_form(gateway, stacks_signer, form):
    created = await signed_call(gateway, stacks_signer, CREATE, form=form)
    assert created.status == 201, created.text
    key_id = created.body["keyId"]

    listed = await signed_call(gateway, stacks_signer, LIST, form=form)
    assert listed.status == 200, listed.text
    assert [k["id"] for k in listed.body["apiKeys"]] == [key_id]

    got = await signed_call(gateway, stacks_signer, GET, key_id, form=form)
    assert got.status == 200, got.text
    assert got.body["id"] == key_id

    rotated = await signed_call(gateway, stacks_signer, ROTATE, key_id, form=form)
    assert rotated.status == 201, rotated.text
    new_id = rotated.body["keyId"]

    deleted = await signed_call(gateway, stacks_signer, DELETE, new_id, form=form)
    assert deleted.status == 200, deleted.text
    assert deleted.body == {"message": "API key 'My Trading Bot' has been revoked"}
    statuses = {k["id"]: k["status"] for k in await list_keys(gateway, stacks_signer)}
    assert statuses == {key_id: "revoked", new_id: "revoked"}


async def test_get_returns_the_key_as_listed(gateway, stacks_signer):
    created = await create_api_key(
        gateway, stacks_signer, name="Exec bot", permissions=("execute",)
    )
    got = await signed_call(gateway, stacks_signer, GET, created["keyId"], form=Form.HEADERS)
    assert got.status == 200, got.text
    assert_listing_item(got.body, created["apiKey"])
    assert got.body["name"] == "Exec bot"
    assert got.body["permissions"] == ["execute"]
    [listed] = await list_keys(gateway, stacks_signer)
    assert {k: got.body[k] for k in LIST_ITEM_FIELDS} == {k: listed[k] for k in LIST_ITEM_FIELDS}


async def test_unknown_key_id_is_not_found(gateway, stacks_signer):
    for endpoint in (GET, DELETE, ROTATE):
        reply = await signed_call(gateway, stacks_signer, endpoint, "key_0000000000000000")
        assert_error(reply, 404, ErrorCode.NOT_FOUND)


async def test_listing_holds_only_the_callers_keys_newest_first(
    gateway, stacks_signer, other_stacks_signer
):
    first = await create_api_key(gateway, stacks_signer, name="first")
    gateway.clock.advance(2)
    second = await create_api_key(gateway, stacks_signer, name="second")
    await create_api_key(gateway, other_stacks_signer, name="someone else's")
    listed = await list_keys(gateway, stacks_signer)
    assert [k["id"] for k in listed] == [second["keyId"], first["keyId"]]
    for item, created in zip(listed, (second, first), strict=True):
        assert_listing_item(item, created["apiKey"])


# -- cross-wallet isolation ------------------------------------------------------------


async def test_other_wallet_cannot_list_get_rotate_or_revoke_a_key(
    gateway, stacks_signer, other_stacks_signer
):
    created = await create_api_key(gateway, stacks_signer)
    key_id = created["keyId"]
    before = await store_snapshot(gateway)

    assert await list_keys(gateway, other_stacks_signer) == []
    for endpoint in (GET, ROTATE, DELETE):
        for form in Form:
            reply = await signed_call(gateway, other_stacks_signer, endpoint, key_id, form=form)
            # 404, not 403: another wallet's key ids cannot be probed.
            assert_error(reply, 404, ErrorCode.NOT_FOUND)

    assert await store_snapshot(gateway) == before
    assert (await probe_key(gateway, created["apiKey"])).status == 200
    [item] = await list_keys(gateway, stacks_signer)
    assert item["status"] == "active"


async def test_key_of_one_wallet_cannot_execute_anothers_order(
    gateway, stacks_signer, other_stacks_signer
):
    mine = await create_api_key(gateway, stacks_signer)
    theirs = await create_order(gateway, other_stacks_signer)
    reply = await execute_with_key(gateway, mine["apiKey"], theirs["uuid"])
    assert_error(reply, 403, ErrorCode.WALLET_MISMATCH)
    assert reply.body["details"]["orderUuid"] == theirs["uuid"]


# -- rotation ------------------------------------------------------------------------------


async def test_rotated_key_works_until_grace_ends_then_is_inactive(gateway, stacks_signer):
    old = await create_api_key(
        gateway, stacks_signer, name="Rotating", permissions=("execute", "cancel"), rateLimit=40
    )
    rotated = await signed_call(gateway, stacks_signer, ROTATE, old["keyId"], graceSeconds=60)
    assert rotated.status == 201, rotated.text
    new = rotated.body
    assert new["apiKey"] != old["apiKey"] and new["keyId"] != old["keyId"]
    assert (new["name"], new["permissions"], new["rateLimit"]) == (
        "Rotating",
        ["execute", "cancel"],
        40,
    )

    gateway.clock.advance(59)
    assert (await probe_key(gateway, old["apiKey"])).status == 200
    assert (await probe_key(gateway, new["apiKey"])).status == 200

    gateway.clock.advance(2)
    assert_error(await probe_key(gateway, old["apiKey"]), 401, ErrorCode.API_KEY_INACTIVE)
    assert (await probe_key(gateway, new["apiKey"])).status == 200
    statuses = {k["id"]: k["status"] for k in await list_keys(gateway, stacks_signer)}
    assert statuses == {old["keyId"]: "revoked", new["keyId"]: "active"}


async def test_rotation_without_grace_revokes_the_old_key_at_once(gateway, stacks_signer):
    old = await create_api_key(gateway, stacks_signer, ipAllowlist=["127.0.0.0/8"])
    rotated = await signed_call(gateway, stacks_signer, ROTATE, old["keyId"])
    assert rotated.status == 201, rotated.text
    assert rotated.body["ipAllowlist"] == ["127.0.0.0/8"]
    assert_error(await probe_key(gateway, old["apiKey"]), 401, ErrorCode.API_KEY_INACTIVE)
    assert (await probe_key(gateway, rotated.body["apiKey"])).status == 200


@pytest.mark.parametrize("grace", [-1, 86401, 1.5, "60", True])
async def test_rotation_grace_out_of_range_is_refused(gateway, stacks_signer, grace):
    created = await create_api_key(gateway, stacks_signer)
    before = await store_snapshot(gateway)
    reply = await signed_call(gateway, stacks_signer, ROTATE, created["keyId"], graceSeconds=grace)
    assert_error(reply, 400, ErrorCode.INVALID_MESSAGE)
    assert await store_snapshot(gateway) == before


# -- optional create fields -----------------------------------------------------------------


async def test_ip_allowlist_refuses_other_networks(gateway, stacks_signer):
    elsewhere = await create_api_key(gateway, stacks_signer, name="far", ipAllowlist=["10.0.0.0/8"])
    here = await create_api_key(gateway, stacks_signer, name="near", ipAllowlist=["127.0.0.0/8"])
    order = await create_order(gateway, stacks_signer)

    refused = await execute_with_key(gateway, elsewhere["apiKey"], order["uuid"])
    assert_error(refused, 403, ErrorCode.IP_NOT_ALLOWED)
    admitted = await execute_with_key(gateway, here["apiKey"], order["uuid"])
    assert admitted.status == 200, admitted.text


async def test_expired_key_is_inactive(gateway, stacks_signer):
    expires = datetime.fromtimestamp(gateway.clock() + 3600, UTC)
    created = await create_api_key(gateway, stacks_signer, expiresAt=expires.isoformat())
    assert (await probe_key(gateway, created["apiKey"])).status == 200
    gateway.clock.advance(3601)
    assert_error(await probe_key(gateway, created["apiKey"]), 401, ErrorCode.API_KEY_INACTIVE)


async def test_expiry_is_judged_by_the_gateways_clock(start_gateway, stacks_signer):
    # The gateway's clock, not the host's, decides what "in the future" means.
    gw = await start_gateway(clock=Clock(time.time() + 7200))
    before_gateway_now = datetime.fromtimestamp(gw.clock() - 3600, UTC).isoformat()
    reply = await signed_call(gw, stacks_signer, CREATE, expiresAt=before_gateway_now)
    assert_error(reply, 400, ErrorCode.INVALID_MESSAGE)
    assert await store_snapshot(gw) == []
    after_gateway_now = datetime.fromtimestamp(gw.clock() + 3600, UTC).isoformat()
    created = await signed_call(gw, stacks_signer, CREATE, expiresAt=after_gateway_now)
    assert created.status == 201, created.text
    assert (await probe_key(gw, created.body["apiKey"])).status == 200


async def test_accepted_rate_limit_is_the_keys_limit(gateway, stacks_signer):
    created = await create_api_key(gateway, stacks_signer, rateLimit=7)
    assert created["rateLimit"] == 7
    reply = await probe_key(gateway, created["apiKey"])
    assert reply.status == 200, reply.text
    assert reply.headers["X-RateLimit-Limit"] == "7"
    assert reply.headers["X-RateLimit-Remaining"] == "6"


INVALID_FIELDS = {
    "rate limit above the configured default": {"rateLimit": 101},
    "zero rate limit": {"rateLimit": 0},
    "fractional rate limit": {"rateLimit": 5.5},
    "boolean rate limit": {"rateLimit": True},
    "allowlist not a list": {"ipAllowlist": "10.0.0.0/8"},
    "allowlist with a non-network": {"ipAllowlist": ["10.0.0.0/8", "not-a-network"]},
    "allowlist too long": {"ipAllowlist": [f"10.0.{i}.0/24" for i in range(33)]},
    "expiry not a date": {"expiresAt": "tomorrow"},
    "expiry a number": {"expiresAt": 1893456000},
    "expiry in the past": {"expiresAt": "2020-01-01T00:00:00Z"},
    "unknown permission": {"permissions": ["create", "withdraw"]},
    "permissions not a list": {"permissions": "create"},
    "missing key name": {"keyName": None},
    "blank key name": {"keyName": "   "},
    "key name too long": {"keyName": "x" * 101},
    "key name with control characters": {"keyName": "bot\n\x00"},
}


@pytest.mark.parametrize("fields", INVALID_FIELDS.values(), ids=INVALID_FIELDS.keys())
async def test_invalid_create_fields_are_refused_and_store_nothing(gateway, stacks_signer, fields):
    # None leaves the field out of the message.
    message_fields = {k: v for k, v in (CREATE.fields("") | fields).items() if v is not None}
    before = await store_snapshot(gateway)
    signed = sign_for(gateway, stacks_signer, CREATE, fields=message_fields)
    reply = await send(gateway, CREATE, signed)
    assert_error(reply, 400, ErrorCode.INVALID_MESSAGE)
    assert await store_snapshot(gateway) == before == []


# -- signed-message failures on every endpoint -----------------------------------------------


async def _expect_refused(
    gw: RunningGateway,
    endpoint: Endpoint,
    key_id: str,
    form: Form,
    signed: dict[str, Any] | None,
    status: int,
    code: str,
) -> None:
    before = await store_snapshot(gw)
    reply = await send(gw, endpoint, signed, key_id, form)
    assert_error(reply, status, code)
    assert await store_snapshot(gw) == before, f"{endpoint.action}: store changed by a refusal"


@pytest.mark.parametrize("form", list(Form))
@pytest.mark.parametrize("endpoint", SIGNED_ENDPOINTS, ids=lambda e: e.action)
async def test_signed_message_failures_give_the_error_body_and_change_nothing(
    gateway, stacks_signer, other_stacks_signer, endpoint, form
):
    gw = gateway
    key_id = (await create_api_key(gw, stacks_signer))["keyId"]
    other_id = (await create_api_key(gw, stacks_signer, name="other"))["keyId"]
    fields = endpoint.fields(key_id)

    async def refused(signed: dict[str, Any] | None, status: int, code: str) -> None:
        await _expect_refused(gw, endpoint, key_id, form, signed, status, code)

    # Wrong action: a message signed for another endpoint.
    wrong = "execute_order" if endpoint != LIST else "delete_api_key"
    await refused(
        sign_for(gw, stacks_signer, endpoint, key_id, action=wrong), 400, "INVALID_MESSAGE"
    )

    # Expired: signed now, presented after the age window; and from the future.
    stale = sign_for(gw, stacks_signer, endpoint, key_id)
    gw.clock.advance(301)
    await refused(stale, 401, "SIGNATURE_EXPIRED")
    future = signed_body(stacks_signer, endpoint.action, fields, now_ms=now_ms(gw) + 301_000)
    await refused(future, 401, "SIGNATURE_EXPIRED")

    # Bad signatures: someone else's over A's message, a flipped digit, too short, not hex.
    good = sign_for(gw, stacks_signer, endpoint, key_id)
    forged = dict(good, signature=other_stacks_signer.sign(good["message"]))
    await refused(forged, 401, "INVALID_SIGNATURE")
    digit = good["signature"][10]
    flipped = good["signature"][:10] + ("1" if digit != "1" else "2") + good["signature"][11:]
    await refused(dict(good, signature=flipped), 401, "INVALID_SIGNATURE")
    await refused(dict(good, signature="0x1234"), 401, "INVALID_SIGNATURE")
    await refused(dict(good, signature="zz" * 65), 401, "INVALID_SIGNATURE")

    # Bad wallets: the documents' placeholder, an EVM address that did not sign.
    await refused(dict(good, walletAddress="SP1ABC123..."), 400, "INVALID_WALLET")
    await refused(
        dict(good, walletAddress="0x742d35cc6c6c7532b1140da4c8a2f6c8ecfc9b46"),
        401,
        "INVALID_SIGNATURE",
    )

    # Missing fields: no signature at all, no signature field, no timestamp.
    await refused(None, 401, "UNAUTHORIZED")
    await refused(dict(good, signature=None), 400, "INVALID_MESSAGE")
    await refused(dict(good, walletAddress=None), 400, "INVALID_MESSAGE")
    no_timestamp = json.dumps({"action": endpoint.action, **fields})
    await refused(
        {
            "message": no_timestamp,
            "signature": stacks_signer.sign(no_timestamp),
            "walletAddress": stacks_signer.address,
        },
        400,
        "INVALID_MESSAGE",
    )
    not_json = "create_api_key My Trading Bot"
    await refused(
        {
            "message": not_json,
            "signature": stacks_signer.sign(not_json),
            "walletAddress": stacks_signer.address,
        },
        400,
        "INVALID_MESSAGE",
    )

    if endpoint.binds_key:
        # A message for one key never authorises another, nor one naming none.
        for_other = sign_for(gw, stacks_signer, endpoint, other_id)
        await refused(for_other, 401, "INVALID_SIGNATURE")
        unbound = signed_body(stacks_signer, endpoint.action, {}, now_ms=now_ms(gw))
        await refused(unbound, 401, "INVALID_SIGNATURE")

    # Replay: the good message works once; the same message again changes nothing.
    first = await send(gw, endpoint, good, key_id, form)
    assert first.status == endpoint.success, first.text
    await refused(good, 401, "SIGNATURE_REPLAYED")


async def test_malformed_body_is_a_bad_request(gateway, stacks_signer):
    for endpoint in SIGNED_ENDPOINTS:
        async with gateway.client.request(
            endpoint.method,
            gateway.at(endpoint.path("key_0000000000000000")),
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        ) as response:
            body = await response.json()
            assert response.status == 400, body
            assert body["code"] == "BAD_REQUEST"
    assert await store_snapshot(gateway) == []


# -- management rate limit -------------------------------------------------------------------


async def test_management_is_rate_limited_per_wallet_apart_from_orders(
    start_gateway, stacks_signer, other_stacks_signer
):
    gw = await start_gateway(clock=mid_minute_clock(), rate_limits={"management_per_minute": 2})
    created = await create_api_key(gw, stacks_signer)
    assert (await signed_call(gw, stacks_signer, LIST)).status == 200
    limited = await signed_call(gw, stacks_signer, LIST)
    assert_error(limited, 429, ErrorCode.RATE_LIMITED)
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert "Retry-After" in limited.headers
    # Another wallet has its own management quota; the key its own order quota.
    assert (await signed_call(gw, other_stacks_signer, LIST)).status == 200
    used = await probe_key(gw, created["apiKey"])
    assert used.status == 200
    assert used.headers["X-RateLimit-Limit"] == "100"
    assert used.headers["X-RateLimit-Remaining"] == "99"


# -- operator actions and restarts ---------------------------------------------------------------


async def test_operator_suspension_reaches_the_running_gateway(gateway, stacks_signer):
    created = await create_api_key(gateway, stacks_signer)
    assert (await probe_key(gateway, created["apiKey"])).status == 200  # now cached

    await gateway.gw.keys.set_status(created["keyId"], KeyStatus.SUSPENDED)
    assert_error(await probe_key(gateway, created["apiKey"]), 401, ErrorCode.API_KEY_INACTIVE)
    [item] = await list_keys(gateway, stacks_signer)
    assert item["status"] == "suspended"

    await gateway.gw.keys.set_status(created["keyId"], KeyStatus.ACTIVE)
    assert (await probe_key(gateway, created["apiKey"])).status == 200


async def test_suspension_by_another_store_connection_is_seen_within_a_second(
    gateway, stacks_signer
):
    created = await create_api_key(gateway, stacks_signer)
    assert (await probe_key(gateway, created["apiKey"])).status == 200  # now cached

    # What `walletgate keys suspend` does: its own connection to the same store.
    cli_store = open_store(gateway.gw.settings.store.url)
    await cli_store.open()
    try:
        await cli_store.set_status(created["keyId"], KeyStatus.SUSPENDED)
        refused = await wait_for_status(gateway, created["apiKey"], 401)
        assert_error(refused, 401, ErrorCode.API_KEY_INACTIVE)

        await cli_store.set_status(created["keyId"], KeyStatus.ACTIVE)
        assert (await wait_for_status(gateway, created["apiKey"], 200)).status == 200

        await cli_store.set_status(created["keyId"], KeyStatus.REVOKED)
        refused = await wait_for_status(gateway, created["apiKey"], 401)
        assert_error(refused, 401, ErrorCode.API_KEY_INACTIVE)
        # Revoked is final: resuming does nothing.
        await cli_store.set_status(created["keyId"], KeyStatus.ACTIVE)
    finally:
        await cli_store.close()
    [item] = await list_keys(gateway, stacks_signer)
    assert item["status"] == "revoked"


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_keys_survive_a_gateway_restart(tmp_path: Path, stacks_signer):
    clock = Clock()
    async with serve(create_backend_app(str(tmp_path / "orders.db"))) as backend_url:
        settings = make_settings(tmp_path, upstream={"url": backend_url})
        first = build_app(settings, clock=clock)
        async with serve(first) as url, aiohttp.ClientSession() as client:
            gw = RunningGateway(client, url, "", backend_url, first, clock)
            created = await create_api_key(gw, stacks_signer)
            revoked = await create_api_key(gw, stacks_signer, name="old")
            deleted = await signed_call(gw, stacks_signer, DELETE, revoked["keyId"])
            assert deleted.status == 200, deleted.text
            assert (await probe_key(gw, created["apiKey"])).status == 200

        second = build_app(settings, clock=clock)
        async with serve(second) as url, aiohttp.ClientSession() as client:
            gw = RunningGateway(client, url, "", backend_url, second, clock)
            assert (await probe_key(gw, created["apiKey"])).status == 200
            assert_error(await probe_key(gw, revoked["apiKey"]), 401, ErrorCode.API_KEY_INACTIVE)
            listed = {k["id"]: k for k in await list_keys(gw, stacks_signer)}
            assert listed[created["keyId"]]["status"] == "active"
            # Usage counted before the restart was flushed on shutdown.
            assert listed[created["keyId"]]["usageStats"]["totalRequests"] >= 1


async def test_key_is_in_the_store_when_the_client_receives_it(gateway, stacks_signer):
    created = await create_api_key(gateway, stacks_signer)
    store = open_store(gateway.gw.settings.store.url)
    await store.open()
    try:
        stored = await store.get(created["keyId"])
    finally:
        await store.close()
    assert stored is not None and stored.status == KeyStatus.ACTIVE
    assert stored.name == "My Trading Bot"


async def test_message_text_is_used_exactly_as_signed(gateway, stacks_signer):
    # Spacing and key order are the client's: the gateway never re-serialises.
    message = json.dumps(
        {
            "timestamp": now_ms(gateway),
            "permissions": ["execute"],
            "keyName": "Spaced",
            "action": "create_api_key",
        },
        indent=2,
    )
    reply = await call(
        gateway,
        "POST",
        "/api/v1/api-keys",
        json={
            "message": message,
            "signature": stacks_signer.sign(message),
            "walletAddress": stacks_signer.address,
        },
    )
    assert reply.status == 201, reply.text
    assert reply.body["permissions"] == ["execute"]
