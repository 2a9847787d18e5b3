"""A key's plaintext is shown once, in the creating response, and nowhere else.

Grep-style: after creating, using, mistyping and revoking keys, the secret is
searched for in the captured logs (every logger, DEBUG), the SQLite files
(database, WAL, shared memory), the /metrics output, every error body and the
repr of the stored record.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path

import pytest

from gateway.config import ServiceKeySettings
from gateway.keys.model import KeyStatus
from tests.conftest import RunningGateway, create_api_key, create_order
from tests.support.key_api import (
    DELETE,
    Reply,
    call,
    execute_with_key,
    probe_key,
    signed_call,
)

SERVICE_KEY = "stk_service_" + secrets.token_urlsafe(24)


def secret_parts(plaintext: str, prefix: str) -> list[str]:
    """The key, and its middle: what the display hint never shows.

    A leaked near-copy (a mistyped key echoed back, a truncated log line)
    gives the secret away as surely as the key itself.
    """
    middle = plaintext[len(prefix) + 4 : -4]
    assert len(middle) >= 30
    return [plaintext, middle]


def mistyped(plaintext: str) -> str:
    last = "A" if plaintext[-1] != "A" else "B"
    return plaintext[:-1] + last


def store_bytes(tmp_path: Path) -> bytes:
    files = [tmp_path / f"walletgate.db{suffix}" for suffix in ("", "-wal", "-shm")]
    assert files[0].exists()
    return b"".join(f.read_bytes() for f in files if f.exists())


def captured_logs(caplog: pytest.LogCaptureFixture) -> str:
    lines = [caplog.text]
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        lines.append(record.exc_text or "")
    return "\n".join(lines)


async def metrics_text(gw: RunningGateway) -> str:
    async with gw.client.get(gw.admin_url + "/metrics") as response:
        assert response.status == 200
        return await response.text()


def assert_nowhere(secrets_: list[str], haystacks: dict[str, str | bytes]) -> None:
    for secret in secrets_:
        for where, haystack in haystacks.items():
            needle: str | bytes = secret.encode() if isinstance(haystack, bytes) else secret
            assert needle not in haystack, f"key material found in {where}"


async def test_v1_key_plaintext_appears_nowhere_but_its_creation_response(
    start_gateway, stacks_signer, other_stacks_signer, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    gw = await start_gateway()
    created = await create_api_key(gw, stacks_signer)
    plaintext = created["apiKey"]
    errors: list[Reply] = []

    # Use: create and execute an order, list usage.
    order = await create_order(gw, stacks_signer, api_key=plaintext)
    assert (await execute_with_key(gw, plaintext, order["uuid"])).status == 200
    # Failures: a mistyped key, another wallet's order, a permission it lacks.
    errors.append(await execute_with_key(gw, mistyped(plaintext), order["uuid"]))
    errors.append(await probe_key(gw, plaintext[:-3]))
    theirs = await create_order(gw, other_stacks_signer)
    errors.append(await execute_with_key(gw, plaintext, theirs["uuid"]))
    limited = await create_api_key(gw, stacks_signer, name="no cancel", permissions=("execute",))
    errors.append(
        await call(
            gw,
            "PATCH",
            f"/api/v1/orders/{order['uuid']}/cancel",
            headers={"X-API-Key": limited["apiKey"]},
        )
    )
    # Revoked, then used: the refusal names the status, never the key.
    assert (await signed_call(gw, stacks_signer, DELETE, created["keyId"])).status == 200
    errors.append(await execute_with_key(gw, plaintext, order["uuid"]))
    assert [e.status for e in errors] == [401, 401, 403, 403, 401]

    await gw.gw.keys.flush_usage()
    record = await gw.gw.store.get(created["keyId"])
    assert record is not None and record.status == KeyStatus.REVOKED
    assert_nowhere(
        secret_parts(plaintext, "ck_live_") + secret_parts(limited["apiKey"], "ck_live_"),
        {
            "logs": captured_logs(caplog),
            "store": store_bytes(tmp_path),
            "metrics": await metrics_text(gw),
            "error bodies": "\n".join(e.text for e in errors),
            "record repr": repr(record) + str(record),
        },
    )
    # The store holds the hash, which is how the key is found.
    assert hashlib.sha256(plaintext.encode()).hexdigest().encode() in store_bytes(tmp_path)


async def test_evm_key_and_service_key_appear_nowhere(start_gateway, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    service = ServiceKeySettings(sha256=hashlib.sha256(SERVICE_KEY.encode()).hexdigest())
    gw = await start_gateway(service_keys=[service])
    wallet = "0x742d35cc6c6c7532b1140da4c8a2f6c8ecfc9b46"
    as_service = {"X-API-Key": SERVICE_KEY, "X-Wallet-Address": wallet}

    generated = await call(gw, "POST", "/api-key/generate", headers=as_service)
    assert generated.status == 200, generated.text
    plaintext = generated.body["api_key"]
    assert (await probe_key(gw, plaintext)).status == 200

    errors = [
        await call(gw, "POST", "/api-key/generate", headers=as_service),
        await call(gw, "POST", "/api-key/generate", headers={"X-API-Key": plaintext}),
        await call(gw, "POST", "/api-key/generate", headers={"X-API-Key": SERVICE_KEY}),
        await call(gw, "POST", "/api-key/revoke", headers={"X-API-Key": mistyped(plaintext)}),
        await call(gw, "POST", "/api-key/revoke", headers={"X-API-Key": SERVICE_KEY + "x"}),
    ]
    assert [e.status for e in errors] == [409, 409, 400, 401, 401]
    revoked = await call(gw, "POST", "/api-key/revoke", headers={"X-API-Key": plaintext})
    assert revoked.status == 200, revoked.text
    errors.append(await probe_key(gw, plaintext))

    await gw.gw.keys.flush_usage()
    [record] = await gw.gw.store.list_keys()
    assert_nowhere(
        [*secret_parts(plaintext, "stk_"), SERVICE_KEY],
        {
            "logs": captured_logs(caplog),
            "store": store_bytes(tmp_path),
            "metrics": await metrics_text(gw),
            "error bodies": "\n".join(e.text for e in errors),
            "success bodies": revoked.text,
            "record repr": repr(record) + str(record),
        },
    )


async def test_upstream_failure_with_a_key_leaks_nothing(start_gateway, stacks_signer, caplog):
    caplog.set_level(logging.DEBUG)
    gw = await start_gateway(upstream={"url": "http://127.0.0.1:9", "timeout_s": 2.0})
    created = await create_api_key(gw, stacks_signer)
    failed = await probe_key(gw, created["apiKey"])
    assert failed.status in (502, 504), failed.text
    assert_nowhere(
        secret_parts(created["apiKey"], "ck_live_"),
        {"logs": captured_logs(caplog), "error body": failed.text},
    )
