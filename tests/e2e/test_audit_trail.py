"""The audit trail: every key event through every path, read back over HTTP and the CLI.

Requests arrive through a trusted proxy address with `X-Forwarded-For`, so
the recorded client IP must be the client's, not the socket peer's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.config import ServiceKeySettings
from gateway.wallets.signing import EvmSigner, StacksSigner, signed_headers
from tests.conftest import Clock, RunningGateway, create_api_key, now_ms
from tests.support.rate_limit_support import NOON, Reply, call

SERVICE_KEY = "svc_" + secrets.token_urlsafe(32)
CLIENT = "203.0.113.9"
VIA_PROXY = {"X-Forwarded-For": CLIENT}


@pytest.fixture(params=["sqlite", "postgresql"])
async def gw(request: pytest.FixtureRequest, start_gateway, postgres_database) -> RunningGateway:
    """A gateway on either store; wallets are fresh per test (the PostgreSQL
    database is shared by the whole run)."""
    service = ServiceKeySettings(hashlib.sha256(SERVICE_KEY.encode()).hexdigest(), "frontend")
    store = {}
    if request.param == "postgresql":
        store = {"url": postgres_database}
    return await start_gateway(
        clock=Clock(now=NOON),
        listen={"trusted_proxies": ("127.0.0.1/32",)},
        keys={"one_active_per_wallet_evm": False},
        service_keys=[service],
        **({"store": store} if store else {}),
    )


@pytest.fixture
def wallet_signer() -> StacksSigner:
    return StacksSigner(secrets.token_hex(32) + "01")


async def events(
    gw: RunningGateway, signer: StacksSigner | EvmSigner, key_id: str, query: str = ""
) -> Reply:
    headers = signed_headers(signer, "list_api_key_events", {"keyId": key_id}, now_ms=now_ms(gw))
    gw.clock.advance(0.01)  # each signed message is fresh
    url = gw.at(f"/api/v1/api-keys/{key_id}/events{query}")
    return await call(gw.client, "GET", url, headers=headers | VIA_PROXY)


async def trail(gw: RunningGateway, signer: StacksSigner | EvmSigner, key_id: str) -> list[Any]:
    reply = await events(gw, signer, key_id)
    assert reply.status == 200, reply.body
    return list(reply.body["events"])


async def create_via_proxy(gw: RunningGateway, signer: StacksSigner, **extra: Any) -> Any:
    from gateway.wallets.signing import signed_body

    fields = {"keyName": "bot", "permissions": ["execute"], **extra}
    body = signed_body(signer, "create_api_key", fields, now_ms=now_ms(gw))
    gw.clock.advance(0.01)
    reply = await call(gw.client, "POST", gw.at("/api/v1/api-keys"), json=body, headers=VIA_PROXY)
    assert reply.status == 201, reply.body
    return reply.body


async def signed(
    gw: RunningGateway,
    signer: StacksSigner,
    method: str,
    path: str,
    action: str,
    fields: dict[str, Any],
) -> Reply:
    headers = signed_headers(signer, action, fields, now_ms=now_ms(gw))
    gw.clock.advance(0.01)
    return await call(gw.client, method, gw.at(path), headers=headers | VIA_PROXY)


async def test_wallet_create_rotate_and_revoke_are_recorded_with_actor_ip_and_details(
    gw, wallet_signer
):
    created = await create_via_proxy(gw, wallet_signer, rateLimit=7)
    key_id = created["keyId"]
    rotated = await signed(
        gw,
        wallet_signer,
        "POST",
        f"/api/v1/api-keys/{key_id}/rotate",
        "rotate_api_key",
        {"keyId": key_id, "graceSeconds": 60},
    )
    assert rotated.status == 201, rotated.body
    new_id = rotated.body["keyId"]
    revoked = await signed(
        gw,
        wallet_signer,
        "DELETE",
        f"/api/v1/api-keys/{new_id}",
        "delete_api_key",
        {"keyId": new_id},
    )
    assert revoked.status == 200, revoked.body

    old_trail = await trail(gw, wallet_signer, key_id)
    assert [e["event"] for e in old_trail] == ["rotated", "created"]  # newest first
    assert old_trail[0]["details"] == {"replacedBy": new_id, "graceSeconds": 60}
    first = old_trail[1]
    assert (first["actor"], first["clientIp"], first["wallet"]) == (
        "wallet",
        CLIENT,
        wallet_signer.address,
    )
    assert first["details"]["permissions"] == ["execute"]
    assert first["details"]["rateLimit"] == 7
    assert created["apiKey"] not in json.dumps(old_trail)

    new_trail = await trail(gw, wallet_signer, new_id)
    assert [e["event"] for e in new_trail] == ["revoked", "created"]
    assert new_trail[1]["details"]["rotatedFrom"] == key_id
    assert {(e["actor"], e["clientIp"]) for e in new_trail} == {("wallet", CLIENT)}


async def test_service_key_and_own_key_paths_record_their_actor(gw):
    evm_signer = EvmSigner("0x" + secrets.token_hex(32))
    wallet = evm_signer.address
    as_service = {"X-API-Key": SERVICE_KEY, "X-Wallet-Address": wallet} | VIA_PROXY
    generated = await call(gw.client, "POST", gw.at("/api-key/generate"), headers=as_service)
    assert generated.status == 200, generated.body
    own = generated.body["api_key"]
    # The wallet's own key makes a second key, then revokes itself.
    second = await call(
        gw.client, "POST", gw.at("/api-key/generate"), headers={"X-API-Key": own} | VIA_PROXY
    )
    assert second.status == 200, second.body
    revoked = await call(
        gw.client, "POST", gw.at("/api-key/revoke"), headers={"X-API-Key": own} | VIA_PROXY
    )
    assert revoked.status == 200, revoked.body
    by_service = await call(gw.client, "POST", gw.at("/api-key/revoke"), headers=as_service)
    assert by_service.status == 200, by_service.body

    stored = await gw.gw.store.list_events(wallet=wallet.lower())
    own_id = next(e.key_id for e in stored if e.kind == "generated" and e.actor.startswith("s"))
    summary = sorted((e.kind.value, e.key_id == own_id, e.actor, e.client_ip) for e in stored)
    assert summary == sorted(
        [
            ("generated", True, "service:frontend", CLIENT),
            ("generated", False, f"key:{own_id}", CLIENT),
            ("revoked", True, f"key:{own_id}", CLIENT),
            ("revoked", False, "service:frontend", CLIENT),
        ]
    )
    # Readable by the wallet too, with the same fields.
    [generated_event] = [
        e for e in await trail(gw, evm_signer, own_id) if e["event"] == "generated"
    ]
    assert generated_event["actor"] == "service:frontend"
    assert generated_event["details"]["dialect"] == "evm"


async def cli(gw: RunningGateway, *argv: str) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    environ["WALLETGATE_STORE__URL"] = gw.gw.settings.store.url
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *argv,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


async def test_operator_cli_changes_are_recorded_and_listed_with_filters(gw, wallet_signer):
    created = await create_api_key(gw, wallet_signer)
    key_id = created["keyId"]
    for command in ("suspend", "resume", "revoke"):
        code, _, err = await cli(gw, "keys", command, key_id)
        assert code == 0, err
        assert f"key.{command}" in err or (command == "resume" and "key.resumed" in err)

    code, out, err = await cli(gw, "keys", "events", key_id, "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [e["event"] for e in listed] == ["revoked", "resumed", "suspended", "created"]
    assert {(e["actor"], e["clientIp"]) for e in listed[:3]} == {("operator", None)}
    assert {e["wallet"] for e in listed} == {wallet_signer.address}

    # The gateway's clock stands in 2030; the CLI's is the real one.
    by_wallet = ("keys", "events", "--wallet", wallet_signer.address, "--json")
    code, out, _ = await cli(gw, *by_wallet, "--since", "2031-01-01T00:00:00Z")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = await cli(gw, *by_wallet, "--since", "2029-06-01")
    assert [e["event"] for e in json.loads(out)] == ["created"]
    code, out, _ = await cli(gw, "keys", "events", "--wallet", wallet_signer.address)
    assert code == 0 and out.count(key_id) == 4 and "operator" in out
    code, _, err = await cli(gw, "keys", "events", "--since", "yesterday")
    assert code == 2 and "--since" in err
    # The running gateway serves the same trail to the wallet.
    assert next(e["event"] for e in await trail(gw, wallet_signer, key_id)) == "revoked"


async def test_expiry_is_recorded_once_by_the_running_gateway(gw, wallet_signer):
    expires = datetime.fromtimestamp(gw.clock() + 60, UTC).isoformat()
    created = await create_api_key(gw, wallet_signer, expiresAt=expires)
    gw.clock.advance(61)
    for _ in range(100):  # bounded: the sweep runs at every usage flush
        kinds = [e["event"] for e in await trail(gw, wallet_signer, created["keyId"])]
        if "expired" in kinds:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # more sweeps: still one event
    final = await trail(gw, wallet_signer, created["keyId"])
    assert [e["event"] for e in final] == ["expired", "created"]
    assert (final[0]["actor"], final[0]["clientIp"]) == ("system", None)


async def test_events_are_paged_newest_first_with_a_cursor(gw, wallet_signer):
    created = await create_api_key(gw, wallet_signer)
    key_id = created["keyId"]
    for status in ("suspended", "active", "suspended"):
        from gateway.keys.model import KeyStatus

        await gw.gw.keys.set_status(key_id, KeyStatus(status))
    first = await events(gw, wallet_signer, key_id, "?limit=3")
    assert first.status == 200, first.body
    assert len(first.body["events"]) == 3 and first.body["nextCursor"]
    rest = await events(gw, wallet_signer, key_id, f"?limit=3&cursor={first.body['nextCursor']}")
    assert [e["event"] for e in rest.body["events"]] == ["created"]
    assert rest.body["nextCursor"] is None


async def test_another_wallets_key_is_404_and_bad_cursors_are_400(
    gw, wallet_signer, other_stacks_signer
):
    created = await create_api_key(gw, wallet_signer)
    foreign = await events(gw, other_stacks_signer, created["keyId"])
    assert (foreign.status, foreign.body["code"]) == (404, "NOT_FOUND")
    for query in ("?cursor=abc", "?cursor=-1", "?cursor=1e5", "?limit=0", "?limit=5000"):
        reply = await events(gw, wallet_signer, created["keyId"], query)
        assert (reply.status, reply.body["code"]) == (400, "BAD_REQUEST"), query
    unsigned = await call(gw.client, "GET", gw.at(f"/api/v1/api-keys/{created['keyId']}/events"))
    assert unsigned.status == 401
    assert len(await gw.gw.store.list_events(key_id=created["keyId"])) == 1  # nothing changed
