"""No secret in any log line at any level, through a real `walletgate gateway` process.

At DEBUG with the access line on, every route is driven with secrets in every
position (valid, invalid and malformed API keys, a service key, signed
messages and signatures in headers and bodies, private keys and marked
request bodies, the query string, Authorization), then over raw sockets with
control bytes, oversize lines, obs-folded and non-UTF-8 headers and broken
chunked bodies. All of stderr is then searched for each secret and its hex
and base64 forms.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.wallets.signing import EvmSigner, StacksSigner, sign_order, signed_body
from tests.conftest import EVM_KEY, STACKS_KEY, order_body
from tests.support.log_support import EchoUpstream, LoggedGateway, start_logged_gateway

SERVICE_KEY = "svc_" + secrets.token_urlsafe(32)
OPERATOR_TOKEN = "wgop_" + secrets.token_urlsafe(32)
ROUTES = (
    ("POST", "/api/v1/orders/new", None),
    ("POST", "/api/v1/orders/{uuid}/execute", "execute_order"),
    ("PATCH", "/api/v1/orders/{uuid}/cancel", "cancel_order"),
    ("GET", "/api/v1/orders/{uuid}", None),
    ("GET", "/api/v1/orders", None),
    ("POST", "/api/v1/api-keys", "create_api_key"),
    ("GET", "/api/v1/api-keys", "list_api_keys"),
    ("GET", "/api/v1/api-keys/{keyId}", "get_api_key"),
    ("GET", "/api/v1/api-keys/{keyId}/events", "list_api_key_events"),
    ("POST", "/api/v1/api-keys/{keyId}/rotate", "rotate_api_key"),
    ("DELETE", "/api/v1/api-keys/{keyId}", "delete_api_key"),
    ("POST", "/api-key/generate", None),
    ("POST", "/api-key/revoke", None),
    ("GET", "/openapi.json", None),
    ("GET", "/no/such/route", None),
)


class Secrets:
    """Every secret sent, and the forms in which a leak could show it."""

    def __init__(self) -> None:
        self.values: list[str] = [
            SERVICE_KEY,
            OPERATOR_TOKEN,
            STACKS_KEY,
            EVM_KEY.removeprefix("0x"),
        ]

    def add(self, value: str) -> str:
        self.values.append(value)
        return value

    def token(self, label: str) -> str:
        return self.add(f"{label}{secrets.token_hex(16)}")

    def signed(self, signer: StacksSigner | EvmSigner, action: str, **fields: Any) -> Any:
        # The key name is a label the audit trail shows; the nonce marks the message.
        fields = {"keyName": "bot", "nonce": self.token("nonce"), **fields}
        body = signed_body(signer, action, fields, now_ms=int(time.time() * 1000))
        self.add(body["message"])
        self.add(body["signature"])
        return body

    def forms(self, value: str) -> set[str]:
        raw = value.encode("utf-8")
        found = {
            value,
            value.lower(),
            json.dumps(value)[1:-1],
            repr(raw)[2:-1],
            raw.hex(),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        }
        if len(value) >= 40:
            quarter = len(value) // 4
            found.add(value[quarter : quarter + 24])  # a truncated copy is a leak too
        text = value.removeprefix("0x")
        try:
            decoded = bytes.fromhex(text)
        except ValueError:
            decoded = b""
        if len(decoded) >= 16:
            found |= {base64.b64encode(decoded).decode()[4:28], text.upper()}
        with_padding = value + "=" * (-len(value) % 4)
        try:
            decoded = base64.urlsafe_b64decode(with_padding)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) >= 16:
            found.add(decoded.hex()[8:40])
        return {f for f in found if len(f) >= 16}

    def leaks(self, log: str) -> list[str]:
        return [v[:12] + "…" for v in self.values for form in self.forms(v) if form in log]


async def drive_routes(gw: LoggedGateway, shh: Secrets, api_key: str, key_id: str) -> None:
    stacks, evm = StacksSigner(STACKS_KEY), EvmSigner(EVM_KEY)
    shh.add(api_key)
    invalid = shh.add("ck_live_" + secrets.token_urlsafe(40))
    malformed = shh.add("ck_live_" + secrets.token_hex(20) + "ü\u202e")
    async with aiohttp.ClientSession() as client:
        for method, template, action in ROUTES:
            path = template.replace("{uuid}", "o-1").replace("{keyId}", key_id)
            bound = {"keyId": key_id} if "{keyId}" in template else {}
            bound |= {"uuid": "o-1"} if "{uuid}" in template else {}
            signed = shh.signed(stacks, action or "create_api_key", **bound)
            bad_signature = dict(signed, signature=shh.add(signed["signature"][:-8] + "00" * 4))
            order = sign_order(stacks, order_body(stacks.address, uuid=shh.token("uuid")))
            shh.add(order["signature"])
            marked = {"privateKey": STACKS_KEY, "note": shh.token("body"), **signed}
            variants: list[tuple[dict[str, str], Any]] = [
                ({"X-API-Key": api_key}, marked),
                ({"X-API-Key": invalid}, bad_signature),
                ({"X-API-Key": malformed.encode().decode("latin-1")}, order),
                ({"X-API-Key": SERVICE_KEY, "X-Wallet-Address": evm.address}, marked),
                (_headers(signed), None),
                (_headers(bad_signature), {"evm": shh.signed(evm, action or "create_api_key")}),
                ({"Authorization": f"Bearer {api_key}"}, order),
                ({}, signed),
            ]
            for headers, body in variants:
                query = f"?apiKey={api_key}&signature={signed['signature']}"
                async with client.request(
                    method, gw.at(path + query), headers=headers, json=body
                ) as response:
                    await response.read()
                    assert response.status < 500 or response.status == 502, (path, headers)
            # A body that is not JSON, holding a key.
            async with client.post(gw.at(path), data=f"{{oops {api_key}".encode()) as response:
                await response.read()


def _headers(body: dict[str, str]) -> dict[str, str]:
    return {
        "X-Message": body["message"],
        "X-Signature": body["signature"],
        "X-Wallet-Address": body["walletAddress"],
    }


async def raw_exchange(url: str, payload: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


async def drive_raw(gw: LoggedGateway, shh: Secrets, api_key: str) -> None:
    signed = shh.signed(StacksSigner(STACKS_KEY), "list_api_keys")
    message, signature = signed["message"].encode(), signed["signature"].encode()
    key = api_key.encode()
    head = b"GET /api/v1/orders HTTP/1.1\r\nHost: gw\r\n"
    cases = [
        head + b"X-API-Key: " + key + b"\x01\r\n\r\n",
        head + b"X-Signature: " + signature + b"\x00\r\nX-Message: " + message + b"\r\n\r\n",
        head + b"X-API-Key: " + key + b"A" * 20000 + b"\r\n\r\n",
        head + b"X-Message: " + message + b"\x7f\xff\r\n\r\n",
        head + b"X-API-Key: x\r\n " + key + b"\r\n\r\n",  # obs-fold
        head + b"X-API-Key: \xc3\x28" + key + b"\r\n\r\n",  # not UTF-8
        b"GET /api/v1/orders?k=" + key + b"\x7f HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET /api/v1/orders?k=" + key + b" HTTP/1.1\r\nHost: gw\r\n" + b"Y" * 70000 + b"\r\n\r\n",
        b"POST /api/v1/api-keys HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"zz\r\n"
        + message
        + b"\r\n0\r\n\r\n",
        b"POST /api/v1/api-keys HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n"
        + b"Content-Length: 9\r\n\r\n"
        + message,
        key + b" / HTTP/1.1\r\n\r\n",  # the key as a method
    ]
    for payload in cases:
        await raw_exchange(gw.url, payload)


async def drive_operator_api(gw: LoggedGateway, shh: Secrets, key_id: str) -> None:
    """The operator API with its token, a wrong secret token, and secrets in the body."""
    base = gw.admin_url + "/admin/v1"
    wrong = shh.add("wgop_" + secrets.token_urlsafe(32))
    async with aiohttp.ClientSession() as client:
        for token in (OPERATOR_TOKEN, wrong, f"{OPERATOR_TOKEN}\u00e9"):
            headers = {"Authorization": f"Bearer {token}"}
            for method, path, body in (
                ("GET", "/keys", None),
                ("GET", f"/keys/{key_id}", None),
                ("PATCH", f"/keys/{key_id}", {"rateLimit": 5, "note": shh.token("note")}),
                ("PATCH", f"/keys/{key_id}", {"status": "suspended"}),
                ("PATCH", f"/keys/{key_id}", {"status": "active"}),
                ("GET", "/events", None),
                ("GET", "/usage/top", None),
            ):
                async with client.request(method, base + path, json=body, headers=headers) as r:
                    await r.read()


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_no_secret_reaches_any_log_line_at_debug(tmp_path: Path, log_format: str):
    upstream = EchoUpstream()
    await upstream.start()
    env = {
        "WALLETGATE_STORE__URL": f"sqlite:///{tmp_path / 'walletgate.db'}",
        "WALLETGATE_LISTEN__PORT": "0",
        "WALLETGATE_ADMIN__PORT": "0",
        "WALLETGATE_LOG__ACCESS": "true",
        "WALLETGATE_LOG__HEALTH_INTERVAL_S": "0.2",
        "WALLETGATE_SERVICE_KEYS__JSON": json.dumps(
            [{"sha256": hashlib.sha256(SERVICE_KEY.encode()).hexdigest(), "name": "frontend"}]
        ),
        "WALLETGATE_ADMIN__TOKENS": json.dumps(
            [
                {
                    "sha256": hashlib.sha256(OPERATOR_TOKEN.encode()).hexdigest(),
                    "name": "risk",
                    "scope": "write",
                }
            ]
        ),
    }
    gw = await start_logged_gateway(
        tmp_path, upstream.url, "--log-level", "debug", "--log-format", log_format, env=env
    )
    shh = Secrets()
    try:
        async with aiohttp.ClientSession() as client:
            body = shh.signed(StacksSigner(STACKS_KEY), "create_api_key")
            async with client.post(gw.at("/api/v1/api-keys"), json=body) as response:
                created = await response.json()
                assert response.status == 201, created
        await drive_routes(gw, shh, created["apiKey"], created["keyId"])
        await drive_operator_api(gw, shh, created["keyId"])
        await drive_raw(gw, shh, created["apiKey"])
        await upstream.stop()  # an outage line too
        await asyncio.sleep(0.5)
    finally:
        assert await gw.stop() == 0
        await upstream.stop()
    log = gw.text()
    assert log.count("event") > 100 or log.count(" request ") > 100  # the log did run
    assert "DEBUG" in log or '"level": "debug"' in log
    assert shh.leaks(log) == []
