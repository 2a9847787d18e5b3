"""Logs of a real `walletgate gateway` process: format, access line, lifecycle, transitions."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import __version__
from gateway.wallets.signing import StacksSigner, signed_body
from tests.support.log_support import (
    EchoUpstream,
    LoggedGateway,
    clean_environ,
    start_logged_gateway,
)
from tests.support.services import PrivateRedis, free_port

ACCESS_FIELDS = {
    "ts",
    "level",
    "event",
    "request_id",
    "method",
    "route",
    "status",
    "duration_ms",
    "upstream_ms",
    "client_ip",
    "auth",
    "key_id",
    "wallet",
    "code",
}


def store_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "WALLETGATE_STORE__URL": f"sqlite:///{tmp_path / 'walletgate.db'}",
        "WALLETGATE_LISTEN__PORT": "0",
        "WALLETGATE_ADMIN__PORT": "0",
        **extra,
    }


@pytest.fixture
async def upstream() -> Any:
    server = EchoUpstream()
    await server.start()
    yield server
    await server.stop()


async def create_key(client: aiohttp.ClientSession, gw: LoggedGateway, signer: StacksSigner) -> Any:
    fields = {"keyName": "bot", "permissions": ["execute"]}
    body = signed_body(signer, "create_api_key", fields, now_ms=int(time.time() * 1000))
    async with client.post(gw.at("/api/v1/api-keys"), json=body) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def test_json_access_lines_carry_every_field_and_lifecycle_lines_frame_the_run(
    tmp_path, upstream, stacks_signer
):
    gw = await start_logged_gateway(
        tmp_path,
        upstream.url,
        "--log-format",
        "json",
        env=store_env(tmp_path, WALLETGATE_LOG__ACCESS="true"),
    )
    try:
        async with aiohttp.ClientSession() as client:
            created = await create_key(client, gw, stacks_signer)
            keyed = {"X-API-Key": created["apiKey"], "X-Request-ID": "req-keyed-1"}
            async with client.get(gw.at("/api/v1/orders/o-1"), headers=keyed) as response:
                assert response.status == 200
                assert response.headers["Server"] == "walletgate"
            bad = {"X-API-Key": "ck_live_" + "A" * 40, "X-Request-ID": "req-bad-1"}
            async with client.post(gw.at("/api/v1/orders/o-1/execute"), headers=bad) as response:
                assert response.status == 401
            async with client.get(gw.admin_url + "/healthz") as response:
                assert (await response.json())["version"] == __version__
                assert response.headers["Server"] == "walletgate"
        await gw.wait_for(lambda r: r.get("request_id") == "req-bad-1", "the 401 access line")
    finally:
        assert await gw.stop() == 0

    requests = gw.events("request")
    assert len(requests) == 3  # create, get, refused execute; the admin listener logs none
    assert all(set(r) == ACCESS_FIELDS for r in requests), requests
    created_line, keyed_line, bad_line = requests
    assert (created_line["route"], created_line["status"]) == ("/api/v1/api-keys", 201)
    assert created_line["wallet"] == stacks_signer.address
    assert created_line["auth"] == "signature"
    assert keyed_line["route"] == "/api/v1/orders/{uuid}"  # the template, never the raw path
    assert keyed_line["key_id"] == created["keyId"]
    assert keyed_line["wallet"] == stacks_signer.address
    assert keyed_line["upstream_ms"] >= 0 and keyed_line["duration_ms"] >= 0
    assert (keyed_line["code"], keyed_line["client_ip"], keyed_line["level"]) == (
        None,
        "127.0.0.1",
        "info",
    )
    assert (bad_line["status"], bad_line["code"], bad_line["upstream_ms"]) == (
        401,
        "INVALID_API_KEY",
        None,
    )
    datetime.fromisoformat(bad_line["ts"])

    [start] = gw.events("start")
    assert start["version"] == __version__
    assert (start["command"], start["mode"], start["store"], start["limiter"]) == (
        "gateway",
        "proxy",
        "sqlite",
        "memory",
    )
    assert start["replay"] == "memory"
    assert start["listen"] == gw.url and start["admin"] == gw.admin_url
    [created_event] = gw.events("key.created")
    assert (created_event["key_id"], created_event["actor"]) == (created["keyId"], "wallet")
    assert [r["reason"] for r in gw.events("shutdown")] == ["SIGTERM"]
    assert gw.records()[-1]["event"] == "stopped"


async def test_text_is_the_default_and_access_lines_are_off_by_default(tmp_path, upstream):
    gw = await start_logged_gateway(tmp_path, upstream.url, env=store_env(tmp_path))
    try:
        async with aiohttp.ClientSession() as client, client.get(gw.at("/api/v1/orders")) as r:
            assert r.status == 200
    finally:
        assert await gw.stop() == 0
    text = gw.text()
    assert f" INFO start version={__version__} command=gateway mode=proxy" in text
    assert " request " not in text
    assert gw.records() == []


async def test_listen_access_log_true_now_writes_access_lines(tmp_path, upstream):
    env = store_env(tmp_path, WALLETGATE_LISTEN__ACCESS_LOG="true")
    gw = await start_logged_gateway(tmp_path, upstream.url, env=env)
    try:
        async with aiohttp.ClientSession() as client, client.get(gw.at("/api/v1/orders")) as r:
            assert r.status == 200
        await asyncio.sleep(0.2)
    finally:
        assert await gw.stop() == 0
    assert " INFO request request_id=" in gw.text()
    assert "route=/api/v1/orders status=200" in gw.text()


@pytest.mark.parametrize(
    ("options", "env", "key"),
    [
        (("--log-level", "loud"), {}, "log.level"),
        (("--log-format", "xml"), {}, "log.format"),
        ((), {"WALLETGATE_LOG__LEVEL": "verbose"}, "log.level"),
        ((), {"WALLETGATE_LOG__FORMAT": "yaml"}, "log.format"),
    ],
)
async def test_invalid_log_level_or_format_stops_start_up_with_one_line(
    tmp_path, options, env, key
):
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *options,
        "gateway",
        "--upstream",
        "http://127.0.0.1:9",
        env=clean_environ(**store_env(tmp_path), **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), 30)
    assert child.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1 and key in lines[0], lines
    assert out == b""


async def test_version_flag_prints_the_version():
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "--version",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(child.communicate(), 30)
    assert (child.returncode, out.decode().strip()) == (0, f"walletgate {__version__}")


async def test_each_dependency_outage_and_recovery_is_logged_once(tmp_path):
    redis = PrivateRedis(free_port())
    redis.start()
    upstream = EchoUpstream(free_port())
    await upstream.start()
    env = store_env(
        tmp_path, WALLETGATE_REDIS__URL=redis.url, WALLETGATE_LOG__HEALTH_INTERVAL_S="0.1"
    )
    gw = await start_logged_gateway(tmp_path, upstream.url, "--log-format", "json", env=env)
    try:
        redis.stop()
        await upstream.stop()
        for name in ("rateLimiter", "upstream"):
            await gw.wait_for(
                lambda r, n=name: r["event"] == "dependency.down" and r["dependency"] == n, name
            )
        await asyncio.sleep(0.5)  # several more probes while down: no more lines
        redis.start()
        await upstream.start()
        for name in ("rateLimiter", "upstream"):
            await gw.wait_for(
                lambda r, n=name: r["event"] == "dependency.up" and r["dependency"] == n, name
            )
        await asyncio.sleep(0.5)
        async with (
            aiohttp.ClientSession() as client,
            client.get(gw.admin_url + "/readyz") as response,
        ):
            body = await response.json()
            assert response.status == 200 and set(body["checks"].values()) == {"ok"}
    finally:
        assert await gw.stop() == 0
        redis.stop()
        await upstream.stop()
    transitions = [
        (r["event"], r["dependency"], r["kind"])
        for r in gw.records()
        if r["event"].startswith("dependency.")
    ]
    assert sorted(transitions) == sorted(
        [
            ("dependency.down", "rateLimiter", "redis"),
            ("dependency.down", "upstream", "http"),
            ("dependency.up", "rateLimiter", "redis"),
            ("dependency.up", "upstream", "http"),
        ]
    )
    [down] = [r for r in gw.events("dependency.down") if r["dependency"] == "rateLimiter"]
    assert down["level"] == "warning" and down["reason"]


async def test_no_answer_advertises_aiohttp_or_python(tmp_path, upstream):
    gw = await start_logged_gateway(tmp_path, upstream.url, env=store_env(tmp_path))
    host, port = gw.url.removeprefix("http://").split(":")
    head = b"GET /api/v1/orders HTTP/1.1\r\nHost: gw\r\n"
    answers = []
    try:
        for payload in (
            head + b"\r\n",  # forwarded: the upstream's own Server header is replaced
            b"GET /nowhere HTTP/1.1\r\nHost: gw\r\n\r\n",
            head + b"X-Bad: \x01\r\n\r\n",  # refused by the HTTP parser, before the app
            head + b"Y" * 70000 + b"\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(payload)
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.read(65536), 10))
            writer.close()
    finally:
        assert await gw.stop() == 0
    for answer in answers:
        head_lines = answer.partition(b"\r\n\r\n")[0].lower().split(b"\r\n")
        assert b"server: walletgate" in head_lines, answer[:300]
        assert b"aiohttp" not in answer and b"python" not in answer.lower()
