"""Helpers for the key-management end-to-end tests: calls, shapes, store snapshots.

Shared by test_key_management.py, test_evm_dialect.py and test_key_secrecy.py.
Everything goes through the real gateway over loopback; store reads go to the
running gateway's own store.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from multidict import CIMultiDictProxy

from gateway.wallets.signing import Signer, signed_body
from tests.conftest import Clock, RunningGateway, now_ms

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
KEY_ID = re.compile(r"^key_[0-9a-f]{16}$")
ERROR_FIELDS = frozenset({"error", "code", "details", "timestamp"})
LIST_ITEM_FIELDS = frozenset(
    {
        "id",
        "name",
        "status",
        "permissions",
        "rateLimit",
        "createdAt",
        "lastUsedAt",
        "usageStats",
        "clientIps",
        "keyHint",
    }
)
USAGE_FIELDS = frozenset(
    {
        "totalRequests",
        "successfulRequests",
        "failedRequests",
        "creationCount",
        "executionCount",
        "cancellationCount",
        "rateLimitedRequests",
        "hourly",
    }
)
# Fields that would carry the secret or its hash; never in a listing.
SECRET_FIELDS = frozenset({"apiKey", "api_key", "key", "key_hash", "keyHash", "hash"})


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]
    text: str


async def call(
    gw: RunningGateway,
    method: str,
    path: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    async with gw.client.request(method, gw.at(path), json=json, headers=headers) as response:
        text = await response.text()
        body = await response.json(content_type=None) if text else None
        return Reply(response.status, body, response.headers, text)


class Form(StrEnum):
    """Where the signed message travels (both work on every signed endpoint)."""

    BODY = "body"
    HEADERS = "headers"


@dataclass(frozen=True, slots=True)
class Endpoint:
    action: str
    method: str
    template: str
    success: int

    @property
    def binds_key(self) -> bool:
        return "{keyId}" in self.template

    def path(self, key_id: str) -> str:
        return self.template.replace("{keyId}", key_id)

    def fields(self, key_id: str) -> dict[str, Any]:
        if self.action == "create_api_key":
            return {"keyName": "My Trading Bot", "permissions": ["create", "execute", "cancel"]}
        return {"keyId": key_id} if self.binds_key else {}


CREATE = Endpoint("create_api_key", "POST", "/api/v1/api-keys", 201)
LIST = Endpoint("list_api_keys", "GET", "/api/v1/api-keys", 200)
GET = Endpoint("get_api_key", "GET", "/api/v1/api-keys/{keyId}", 200)
DELETE = Endpoint("delete_api_key", "DELETE", "/api/v1/api-keys/{keyId}", 200)
ROTATE = Endpoint("rotate_api_key", "POST", "/api/v1/api-keys/{keyId}/rotate", 201)
SIGNED_ENDPOINTS = (CREATE, LIST, GET, DELETE, ROTATE)


HEADER_NAMES = {
    "message": "X-Message",
    "signature": "X-Signature",
    "walletAddress": "X-Wallet-Address",
    "publicKey": "X-Public-Key",
}


def as_form(signed: dict[str, Any], form: Form) -> dict[str, Any]:
    """`call` keyword arguments carrying `signed` in the body or in headers.

    A field whose value is None is left out, to send incomplete requests.
    """
    present = {name: value for name, value in signed.items() if value is not None}
    if form == Form.BODY:
        return {"json": present}
    return {"headers": {HEADER_NAMES[name]: value for name, value in present.items()}}


def tick(gw: RunningGateway) -> None:
    """Move the clock to the next millisecond.

    The test clock stands still; a wallet's Date.now() does not, so two
    messages signed in a row differ, as they would in a browser. Set from the
    millisecond count (not advanced by 0.001) so float error never repeats one.
    """
    gw.clock.advance((now_ms(gw) + 1.5) / 1000 - gw.clock())


def sign_for(
    gw: RunningGateway,
    signer: Signer,
    endpoint: Endpoint,
    key_id: str = "",
    *,
    fields: dict[str, Any] | None = None,
    action: str | None = None,
) -> dict[str, str]:
    chosen = endpoint.fields(key_id) if fields is None else fields
    tick(gw)
    return signed_body(signer, action or endpoint.action, chosen, now_ms=now_ms(gw))


async def send(
    gw: RunningGateway,
    endpoint: Endpoint,
    signed: dict[str, Any] | None,
    key_id: str = "",
    form: Form = Form.BODY,
) -> Reply:
    kwargs = as_form(signed, form) if signed is not None else {}
    return await call(gw, endpoint.method, endpoint.path(key_id), **kwargs)


async def signed_call(
    gw: RunningGateway,
    signer: Signer,
    endpoint: Endpoint,
    key_id: str = "",
    form: Form = Form.BODY,
    **fields: Any,
) -> Reply:
    """The endpoint called the way a wallet front end would, extra fields signed too."""
    signed = sign_for(gw, signer, endpoint, key_id, fields=endpoint.fields(key_id) | fields)
    return await send(gw, endpoint, signed, key_id, form)


def assert_error(reply: Reply, status: int, code: str, *, evm: bool = False) -> None:
    """The JSON error body (with `success: false` on the EVM routes)."""
    assert reply.status == status, reply.text
    expected_fields = ERROR_FIELDS | {"success"} if evm else ERROR_FIELDS
    assert isinstance(reply.body, dict), reply.text
    assert set(reply.body) == expected_fields, reply.text
    assert reply.body["code"] == code, reply.text
    assert isinstance(reply.body["error"], str) and reply.body["error"], reply.text
    assert isinstance(reply.body["details"], dict), reply.text
    assert ISO_UTC.match(reply.body["timestamp"]), reply.text
    if evm:
        assert reply.body["success"] is False, reply.text


async def probe_key(gw: RunningGateway, api_key: str) -> Reply:
    """A public order route called with the key: 200 when usable, else the refusal."""
    return await call(gw, "GET", "/api/v1/orders", headers={"X-API-Key": api_key})


async def execute_with_key(gw: RunningGateway, api_key: str, uuid: str) -> Reply:
    return await call(gw, "POST", f"/api/v1/orders/{uuid}/execute", headers={"X-API-Key": api_key})


async def store_snapshot(gw: RunningGateway) -> list[tuple[Any, ...]]:
    """What a refused request must not change: every key's identity and lifecycle."""
    keys = await gw.gw.store.list_keys()
    return sorted(
        (k.id, k.wallet, k.name, k.status.value, k.revoke_at, k.expires_at, k.rate_limit)
        for k in keys
    )


async def wait_for_status(
    gw: RunningGateway, api_key: str, status: int, *, bound_s: float = 5.0
) -> Reply:
    """Poll the key until the gateway answers `status`; the bound is generous, not a timing test."""
    deadline = time.monotonic() + bound_s
    while True:
        reply = await probe_key(gw, api_key)
        if reply.status == status or time.monotonic() > deadline:
            return reply
        await asyncio.sleep(0.05)


def mid_minute_clock() -> Clock:
    """A clock in the middle of a minute window, so a count never straddles a reset."""
    return Clock(float(int(time.time()) // 60 * 60 + 30))
