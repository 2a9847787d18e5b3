"""The `walletgate` command as real processes (`python -m gateway`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.config import ServiceKeySettings
from gateway.keys.audit import EventKind
from gateway.operator_config import TierSettings
from tests.conftest import EVM_KEY, STACKS_KEY, create_api_key, signed_order

START_TIMEOUT_S = 15
PORTS_0 = {
    "WALLETGATE_LISTEN__PORT": "0",
    "WALLETGATE_ADMIN__PORT": "0",
    "WALLETGATE_BACKEND__PORT": "0",
}


@dataclass(frozen=True, slots=True)
class Done:
    code: int
    out: str
    err: str


def environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without WALLETGATE_* variables, plus `extra`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    return clean | extra


async def walletgate(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> Done:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        cwd=cwd,
        env=environment(env or {}),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), START_TIMEOUT_S)
    assert process.returncode is not None
    return Done(process.returncode, out.decode(), err.decode())


@dataclass
class Server:
    """A long-running `walletgate run|gateway` and the URLs it printed."""

    process: asyncio.subprocess.Process
    urls: dict[str, str]

    async def stop(self) -> Done:
        self.process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(self.process.communicate(), START_TIMEOUT_S)
        assert self.process.returncode is not None
        return Done(self.process.returncode, out.decode(), err.decode())


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[object]:
    started: list[Server] = []

    async def start(*args: str, env: dict[str, str], lines: int) -> Server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            *args,
            cwd=tmp_path,
            env=environment(env),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        server = Server(process, {})
        started.append(server)
        assert process.stdout is not None
        for _ in range(lines):
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
            text = line.decode()
            assert "http://" in text, text
            # "walletgate gateway listening on http://127.0.0.1:PORT ..."
            server.urls[text.split()[1]] = text[text.index("http://") :].split()[0]
        return server

    yield start
    for server in started:
        if server.process.returncode is None:
            server.process.kill()
            await server.process.wait()


# -- walletgate run -----------------------------------------------------------------------


async def test_run_serves_a_round_trip_and_exits_0_on_sigterm(serve, tmp_path):
    from gateway.wallets.signing import StacksSigner

    server = await serve("run", env=PORTS_0, lines=3)
    assert set(server.urls) == {"gateway", "admin", "backend"}
    gateway_url = server.urls["gateway"]
    signed = await walletgate(
        "sign",
        "--action",
        "create_api_key",
        "--field",
        "keyName=cli-bot",
        "--field",
        'permissions=["create","execute","cancel"]',
        cwd=tmp_path,
        env={"WALLETGATE_SIGNING_KEY": STACKS_KEY},
    )
    assert signed.code == 0, signed.err
    signer = StacksSigner(STACKS_KEY)
    async with aiohttp.ClientSession() as client:
        async with client.post(gateway_url + "/api/v1/api-keys", data=signed.out) as response:
            created = await response.json()
            assert response.status == 201, created
        headers = {"X-API-Key": created["apiKey"]}
        order = signed_order(signer)
        async with client.post(
            gateway_url + "/api/v1/orders/new", json=order, headers=headers
        ) as response:
            assert response.status == 201, await response.text()
        async with client.get(
            gateway_url + f"/api/v1/orders/{order['uuid']}", headers=headers
        ) as response:
            assert response.status == 200
            assert (await response.json())["data"]["owner"] == signer.address
        async with client.get(server.urls["admin"] + "/readyz") as response:
            assert response.status == 200, await response.text()

    done = await server.stop()
    assert done.code == 0, done.err
    assert "Traceback" not in done.err
    assert (tmp_path / "data" / "walletgate.db").is_file()
    assert (tmp_path / "data" / "orders.db").is_file()
    # Usage counted before SIGTERM was flushed on the way out.
    listed = await walletgate("keys", "list", "--json", cwd=tmp_path)
    [record] = json.loads(listed.out)
    assert record["id"] == created["keyId"]
    assert record["usageStats"]["totalRequests"] == 2
    assert record["usageStats"]["creationCount"] == 1


# -- walletgate gateway ---------------------------------------------------------------------


async def test_gateway_alone_forwards_to_the_given_upstream(serve, tmp_path):
    seen: list[tuple[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path_qs, request.headers.get("X-Gateway-Auth", "")))
        return web.json_response({"orders": []})

    app = web.Application()
    app.router.add_get("/{tail:.*}", record)
    upstream = TestServer(app, host="127.0.0.1", port=0)
    await upstream.start_server()
    try:
        upstream_url = str(upstream.make_url("")).rstrip("/")
        env = PORTS_0 | {"WALLETGATE_STORE__URL": f"sqlite:///{tmp_path / 'keys.db'}"}
        server = await serve("gateway", "--upstream", upstream_url, env=env, lines=3)
        assert server.urls["forwarding"] == upstream_url
        async with (
            aiohttp.ClientSession() as client,
            client.get(server.urls["gateway"] + "/api/v1/orders?limit=5") as response,
        ):
            assert response.status == 200
            assert await response.json() == {"orders": []}
        done = await server.stop()
    finally:
        await upstream.close()
    assert done.code == 0, done.err
    assert "Traceback" not in done.err
    assert seen == [("/api/v1/orders?limit=5", "public")]
    assert not (tmp_path / "data").exists()  # the store went where it was told


async def test_gateway_without_an_upstream_exits_2_naming_the_key(tmp_path):
    done = await walletgate("gateway", cwd=tmp_path, env=PORTS_0)
    assert done.code == 2
    assert done.err.strip().splitlines() == [
        "walletgate: configuration error: upstream.url: required"
    ]


# -- walletgate keys ------------------------------------------------------------------------


async def test_keys_commands_act_on_the_store_a_running_gateway_uses(
    start_gateway, tmp_path, stacks_signer
):
    gw = await start_gateway()
    created = await create_api_key(gw, stacks_signer, name="ops-bot")
    key_id = created["keyId"]
    env = {"WALLETGATE_STORE__URL": gw.gw.settings.store.url}

    async def keys(*args: str) -> Done:
        return await walletgate("keys", *args, cwd=tmp_path, env=env)

    async def key_status() -> int:
        headers = {"X-API-Key": created["apiKey"]}
        async with gw.client.get(gw.at("/api/v1/orders"), headers=headers) as response:
            return response.status

    async def gateway_answers(status: int) -> None:
        # Other processes' changes reach the gateway through the store's change log.
        for _ in range(50):
            if await key_status() == status:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"gateway never answered {status}")

    listed, shown, unknown = await asyncio.gather(
        keys("list", "--json"),
        keys("show", key_id, "--json"),
        keys("suspend", "no-such-key"),
    )
    [record] = json.loads(listed.out)
    assert (record["id"], record["name"], record["status"]) == (key_id, "ops-bot", "active")
    assert record["walletAddress"] == stacks_signer.address
    assert created["apiKey"] not in listed.out + shown.out
    shown_record = json.loads(shown.out)
    assert shown_record["usageStats"]["hourly"] == []
    assert shown_record == record
    assert unknown.code == 1
    assert unknown.err.strip().splitlines() == [
        f"walletgate: key store {env['WALLETGATE_STORE__URL']}",
        "walletgate: no key with id 'no-such-key'",
    ]

    suspended = await keys("suspend", key_id)
    assert suspended.code == 0, suspended.err
    assert suspended.out.strip() == f"key {key_id} (ops-bot) is now suspended"
    await gateway_answers(401)

    resumed = await keys("resume", key_id)
    assert resumed.code == 0, resumed.err
    await gateway_answers(200)

    revoked = await keys("revoke", key_id)
    assert revoked.code == 0, revoked.err
    await gateway_answers(401)
    again = await keys("resume", key_id)
    assert again.code == 1
    assert "revocation is final" in again.err


async def test_keys_hash_reads_stdin_and_admits_the_service_key(
    start_gateway, tmp_path, evm_signer
):
    hashed, empty = await asyncio.gather(
        walletgate("keys", "hash", cwd=tmp_path, stdin="svc-secret-123\n"),
        walletgate("keys", "hash", cwd=tmp_path, stdin=""),
    )
    digest = hashed.out.strip()
    assert hashed.code == 0, hashed.err
    assert digest == hashlib.sha256(b"svc-secret-123").hexdigest()
    assert "svc-secret-123" not in hashed.out + hashed.err
    assert empty.code == 1
    assert "no key on stdin" in empty.err

    gw = await start_gateway(service_keys=[ServiceKeySettings(sha256=digest, name="frontend")])
    headers = {"X-API-Key": "svc-secret-123", "X-Wallet-Address": evm_signer.address}
    async with gw.client.post(gw.at("/api-key/generate"), headers=headers) as response:
        body = await response.json()
        assert response.status == 200, body
        assert body["success"] is True
        assert body["api_key"].startswith("stk_")


# -- walletgate sign ------------------------------------------------------------------------


async def test_sign_output_verifies_against_a_running_gateway(gateway, tmp_path):
    key_file = tmp_path / "stacks.key"
    key_file.write_text(STACKS_KEY + "\n", encoding="utf-8")
    stacks, evm, headers, missing = await asyncio.gather(
        walletgate(
            "sign",
            "--key-file",
            str(key_file),
            "--action",
            "create_api_key",
            "--field",
            "keyName=from-file",
            "--field",
            'permissions=["create"]',
            cwd=tmp_path,
        ),
        walletgate(
            "sign",
            "--chain",
            "evm",
            "--action",
            "create_api_key",
            "--field",
            "keyName=from-env",
            "--field",
            'permissions=["execute"]',
            cwd=tmp_path,
            env={"WALLETGATE_SIGNING_KEY": EVM_KEY},
        ),
        walletgate(
            "sign",
            "--key-file",
            str(key_file),
            "--action",
            "list_api_keys",
            "--headers",
            cwd=tmp_path,
        ),
        walletgate("sign", "--action", "list_api_keys", cwd=tmp_path),
    )
    for done in (stacks, evm, headers):
        assert done.code == 0, done.err
    assert STACKS_KEY not in stacks.out + headers.out
    assert missing.code == 1
    assert "WALLETGATE_SIGNING_KEY" in missing.err

    for signed, name in ((stacks, "from-file"), (evm, "from-env")):
        async with gateway.client.post(gateway.at("/api/v1/api-keys"), data=signed.out) as response:
            body = await response.json()
            assert response.status == 201, body
            assert body["name"] == name
    async with gateway.client.get(
        gateway.at("/api/v1/api-keys"), headers=json.loads(headers.out)
    ) as response:
        body = await response.json()
        assert response.status == 200, body
        assert [k["name"] for k in body["apiKeys"]] == ["from-file"]


async def test_keys_tier_shows_sets_and_clears_a_tier_a_running_gateway_applies(
    start_gateway, tmp_path, stacks_signer
):
    tiers = (TierSettings("market_maker", per_minute=5, per_hour=50, per_day=500),)
    gw = await start_gateway(tiers=tiers)
    created = await create_api_key(gw, stacks_signer)
    env = {
        "WALLETGATE_STORE__URL": gw.gw.settings.store.url,
        "WALLETGATE_TIERS__JSON": json.dumps(
            {"market_maker": {"per_minute": 5, "per_hour": 50, "per_day": 500}}
        ),
    }
    wallet = stacks_signer.address

    async def tier(*args: str) -> Done:
        return await walletgate("keys", "tier", wallet, *args, cwd=tmp_path, env=env)

    async def limit_becomes(expected: str) -> None:
        headers = {"X-API-Key": created["apiKey"]}
        for _ in range(50):  # bounded: the change log is polled every 0.2 s here
            async with gw.client.get(gw.at("/api/v1/orders"), headers=headers) as response:
                if response.headers["X-RateLimit-Limit"] == expected:
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the gateway never showed a limit of {expected}")

    assert (await tier()).out.strip() == "-"
    unknown = await tier("platinum")
    assert unknown.code == 2 and "unknown tier 'platinum' (tiers: market_maker)" in unknown.err
    placed = await tier("market_maker")
    assert placed.code == 0, placed.err
    assert placed.out.strip() == f"wallet {wallet}: tier - -> market_maker"
    await limit_becomes("5")
    assert (await tier()).out.strip() == "market_maker"

    cleared = await tier("--clear")
    assert cleared.code == 0 and cleared.out.strip().endswith("market_maker -> -")
    await limit_becomes("100")
    events = await gw.gw.store.list_events(wallet=wallet, kind=EventKind.LIMITS_CHANGED)
    assert [(e.kind.value, e.key_id, e.actor) for e in events] == [
        ("limits_changed", "", "operator"),
        ("limits_changed", "", "operator"),
    ]
    bad = await walletgate("keys", "tier", "SPNOTAWALLET", "market_maker", cwd=tmp_path, env=env)
    assert bad.code == 2 and "is not a wallet address" in bad.err


async def test_keys_limits_changes_a_keys_limit_and_expiry_as_the_api_does(
    start_gateway, tmp_path, stacks_signer
):
    gw = await start_gateway()
    created = await create_api_key(gw, stacks_signer)
    key_id = created["keyId"]
    env = {"WALLETGATE_STORE__URL": gw.gw.settings.store.url}

    async def limits(*args: str) -> Done:
        return await walletgate("keys", "limits", *args, cwd=tmp_path, env=env)

    refused = await asyncio.gather(
        limits(key_id),
        limits(key_id, "--rate-limit", "101"),
        limits(key_id, "--expires-at", "yesterday"),
        limits(key_id, "--expires-at", "2001-01-01T00:00:00Z"),
    )
    assert [r.code for r in refused] == [2, 2, 2, 2]
    assert "must be 1 to 100" in refused[1].err
    unknown = await limits("key_0123456789abcdef", "--rate-limit", "5")
    assert unknown.code == 1 and "no key with id" in unknown.err

    changed = await limits(key_id, "--rate-limit", "7", "--reason", "abuse")
    assert changed.code == 0, changed.err
    assert changed.out.strip() == f"key {key_id} (My Trading Bot): rateLimit 7, expiresAt none"
    headers = {"X-API-Key": created["apiKey"]}
    for _ in range(50):  # bounded: the change log is polled every 0.2 s here
        async with gw.client.get(gw.at("/api/v1/orders"), headers=headers) as response:
            if response.headers["X-RateLimit-Limit"] == "7":
                break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the gateway never applied the new limit")
    (event,) = await gw.gw.store.list_events(key_id=key_id, kind=EventKind.LIMITS_CHANGED)
    assert (event.kind.value, event.actor) == ("limits_changed", "operator")
    assert dict(event.details) == {"rateLimit": {"from": 100, "to": 7}, "reason": "abuse"}
