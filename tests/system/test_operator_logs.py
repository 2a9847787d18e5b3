"""Logs an operator can trust, from real `walletgate` processes: JSON means every line,
workers have lifecycle lines, auth mode says so, errors name what to change and
never a credential."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.log_support import EchoUpstream, clean_environ, start_logged_gateway
from tests.support.services import PrivateRedis, free_port

TIMEOUT_S = 30.0


def store_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "WALLETGATE_STORE__URL": f"sqlite:///{tmp_path / 'walletgate.db'}",
        "WALLETGATE_LISTEN__PORT": "0",
        "WALLETGATE_ADMIN__PORT": "0",
        "WALLETGATE_LOG__HEALTH_INTERVAL_S": "0.2",
        **extra,
    }


@pytest.fixture
async def upstream() -> Any:
    server = EchoUpstream()
    await server.start()
    yield server
    await server.stop()


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line parsed as a JSON object; fails naming the first that is not."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(value, dict), line
        assert {"ts", "level", "event"} <= set(value), line
        records.append(value)
    return records


async def walletgate(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        env=clean_environ(**env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), TIMEOUT_S)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


async def test_json_format_makes_every_stdout_and_stderr_line_json(tmp_path, upstream):
    gw = await start_logged_gateway(
        tmp_path, upstream.url, "--log-format", "json", env=store_env(tmp_path)
    )
    async with aiohttp.ClientSession() as client, client.get(gw.at("/api/v1/orders")) as r:
        assert r.status == 200
    assert await gw.stop() == 0
    assert gw.child.stdout is not None
    stdout = "".join(gw.stdout) + (await gw.child.stdout.read()).decode()
    banners = json_lines(stdout)
    messages = [b["message"] for b in banners]
    assert f"walletgate gateway listening on {gw.url}" in messages
    assert any(m.startswith("walletgate stopped: closed ") for m in messages), messages
    [listening] = [b for b in banners if b.get("listener") == "gateway"]
    assert listening["url"] == gw.url
    events = [r["event"] for r in json_lines(gw.text())]
    assert events[0] == "start" and events[-2:] == ["shutdown", "stopped"], events


async def test_json_format_of_run_makes_every_line_json_backend_banner_included(tmp_path):
    env = store_env(
        tmp_path,
        WALLETGATE_BACKEND__PORT="0",
        WALLETGATE_BACKEND__DATABASE=str(tmp_path / "orders.db"),
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "--log-format",
        "json",
        "run",
        env=clean_environ(**env),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    first: list[bytes] = []
    while len(first) < 3:  # gateway, admin, backend
        line = await asyncio.wait_for(child.stdout.readline(), TIMEOUT_S)
        assert line, "walletgate run did not start"
        first.append(line)
    child.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(child.communicate(), TIMEOUT_S)
    assert child.returncode == 0
    banners = json_lines(b"".join(first).decode() + out.decode())
    assert [b.get("listener") for b in banners[:3]] == ["gateway", "admin", "backend"]
    assert banners[-1]["event"] == "stopped.summary"
    records = json_lines(err.decode())
    [start] = [r for r in records if r["event"] == "start"]
    assert (start["command"], start["mode"]) == ("run", "proxy")
    assert records[-1]["event"] == "stopped"


async def test_text_format_keeps_the_plain_banners(tmp_path, upstream):
    gw = await start_logged_gateway(tmp_path, upstream.url, env=store_env(tmp_path))
    assert await gw.stop() == 0
    assert gw.child.stdout is not None
    stdout = "".join(gw.stdout) + (await gw.child.stdout.read()).decode()
    lines = stdout.splitlines()
    assert lines[0] == f"walletgate gateway listening on {gw.url}"
    assert lines[2] == f"walletgate forwarding to {upstream.url}"
    assert lines[-1].startswith("walletgate stopped: closed ")


async def test_auth_mode_is_named_in_the_banner_and_the_start_line(tmp_path, upstream):
    env = store_env(
        tmp_path,
        WALLETGATE_LISTEN__MODE="auth",
        WALLETGATE_LISTEN__TRUSTED_PROXIES="127.0.0.1/32",
    )
    gw = await start_logged_gateway(tmp_path, upstream.url, "--log-format", "json", env=env)
    assert await gw.stop() == 0
    assert gw.child.stdout is not None
    stdout = "".join(gw.stdout) + (await gw.child.stdout.read()).decode()
    assert "forwarding to" not in stdout
    [mode] = [b for b in json_lines(stdout) if b["event"] == "mode"]
    assert mode["mode"] == "auth" and "auth mode" in mode["message"]
    [start] = gw.events("start")
    assert (start["command"], start["mode"]) == ("gateway", "auth")


async def test_busy_port_names_the_address_and_the_setting_and_no_stopped_line(tmp_path, upstream):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = store_env(tmp_path, WALLETGATE_LISTEN__PORT=str(port))
        code, out, err = await walletgate(
            "gateway", "--upstream", upstream.url, env=env, cwd=tmp_path
        )
    assert code == 1
    assert "stopped" not in out, out
    assert err.splitlines()[-1] == (
        f"walletgate: cannot listen on 127.0.0.1:{port} (address already in use): "
        "change listen.port (WALLETGATE_LISTEN__PORT or --port)"
    )


async def test_busy_admin_port_in_json_names_admin_port(tmp_path, upstream):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = store_env(tmp_path, WALLETGATE_ADMIN__PORT=str(port), WALLETGATE_LOG__FORMAT="json")
        code, out, err = await walletgate(
            "gateway", "--upstream", upstream.url, env=env, cwd=tmp_path
        )
    assert code == 1 and out == ""
    last = json_lines(err)[-1]
    assert last["level"] == "error"
    assert f"127.0.0.1:{port}" in last["message"] and "admin.port" in last["message"]


async def test_misspelt_variable_is_named_and_one_underscore_is_warned(tmp_path, upstream):
    env = store_env(tmp_path, WALLETGATE_LISTN__PORT="9000")
    code, _, err = await walletgate("gateway", "--upstream", upstream.url, env=env, cwd=tmp_path)
    assert code == 2
    assert err.startswith(
        "walletgate: configuration error: WALLETGATE_LISTN__PORT: unknown section 'listn'"
    )
    env = store_env(tmp_path, WALLETGATE_LISTEN_PORT="9000")
    gw = await start_logged_gateway(tmp_path, upstream.url, env=env)
    assert await gw.stop() == 0
    assert (
        "walletgate: warning: WALLETGATE_LISTEN_PORT is ignored: settings take two "
        "underscores, WALLETGATE_LISTEN__PORT"
    ) in gw.text()


async def test_redis_outage_names_the_address_never_the_password(tmp_path, upstream):
    password = "hunter2-redis-secret"
    redis = PrivateRedis(free_port())
    redis.extra_args = ["--requirepass", password]
    redis.start()
    try:
        env = store_env(
            tmp_path, WALLETGATE_REDIS__URL=f"redis://:{password}@127.0.0.1:{redis.port}/0"
        )
        gw = await start_logged_gateway(tmp_path, upstream.url, "--log-format", "json", env=env)
        redis.stop()
        down = await gw.wait_for(
            lambda r: r.get("event") == "dependency.down" and r["dependency"] == "rateLimiter",
            "the limiter going down",
        )
        assert down["address"] == f"127.0.0.1:{redis.port}"
        assert await gw.stop() == 0
    finally:
        redis.stop()
    assert password not in gw.text()


async def test_postgres_down_at_start_names_the_address_never_the_password(tmp_path, upstream):
    password = "pg-secret-never-shown"
    port = free_port()
    env = store_env(
        tmp_path, WALLETGATE_STORE__URL=f"postgresql://walletgate:{password}@127.0.0.1:{port}/wg"
    )
    code, out, err = await walletgate("gateway", "--upstream", upstream.url, env=env, cwd=tmp_path)
    assert code == 1
    assert password not in out + err
    assert "Traceback" not in err
    assert f"(store.url: 127.0.0.1:{port}/wg; is it running?)" in err.splitlines()[-1]


# -- workers ---------------------------------------------------------------------


async def until_metric(admin_url: str, line: str) -> None:
    async with aiohttp.ClientSession() as client:
        for _ in range(int(TIMEOUT_S / 0.1)):  # bounded
            async with client.get(f"{admin_url}/metrics") as r:
                if line in (await r.text()).splitlines():
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"/metrics never showed {line}")


async def test_workers_write_supervisor_and_per_worker_lifecycle_lines_all_json(
    tmp_path, upstream, redis_url, redis_prefix
):
    env = store_env(
        tmp_path,
        WALLETGATE_REDIS__URL=redis_url,
        WALLETGATE_REDIS__PREFIX=f"{redis_prefix}-logs",
    )
    gw = await start_logged_gateway(
        tmp_path,
        upstream.url,
        "--log-format",
        "json",
        env=env | {"WALLETGATE_LISTEN__WORKERS": "2"},
    )
    try:
        supervisor_start = await gw.wait_for(
            lambda r: r["event"] == "start" and r.get("role") == "supervisor", "supervisor start"
        )
        for index in (0, 1):
            await gw.wait_for(
                lambda r, i=index: r["event"] == "start" and r.get("worker") == i,
                f"worker {index} start",
            )
        # The workers' dependency probes reach the one /metrics (lowest of the live ones).
        await until_metric(
            gw.admin_url, 'walletgate_dependency_up{dependency="rateLimiter",kind="redis"} 1.0'
        )
    finally:
        assert await gw.stop() == 0
    assert gw.child.stdout is not None
    stdout = "".join(gw.stdout) + (await gw.child.stdout.read()).decode()
    json_lines(stdout)  # every banner a JSON object too
    records = json_lines(gw.text())
    assert supervisor_start["workers"] == 2
    pids = set(supervisor_start["pids"])
    for event in ("start", "shutdown", "stopped"):
        workers = [r for r in records if r["event"] == event and r.get("role") == "worker"]
        assert {r["worker"] for r in workers} == {0, 1}, (event, workers)
        assert {r["pid"] for r in workers} == pids, event
        supervisor = [r for r in records if r["event"] == event and r.get("role") == "supervisor"]
        assert len(supervisor) == 1, event
    [shutdown] = [r for r in records if r["event"] == "shutdown" and r["role"] == "supervisor"]
    assert shutdown["reason"] == "SIGTERM"
    assert records[-1]["event"] == "stopped" and records[-1]["role"] == "supervisor"


async def test_a_killed_worker_is_logged_with_its_index_and_replaced(
    tmp_path, upstream, redis_url, redis_prefix
):
    env = store_env(
        tmp_path,
        WALLETGATE_REDIS__URL=redis_url,
        WALLETGATE_REDIS__PREFIX=f"{redis_prefix}-kill",
    )
    gw = await start_logged_gateway(
        tmp_path,
        upstream.url,
        "--log-format",
        "json",
        env=env | {"WALLETGATE_LISTEN__WORKERS": "2"},
    )
    try:
        start = await gw.wait_for(
            lambda r: r["event"] == "start" and r.get("worker") == 1, "worker 1 start"
        )
        os.kill(start["pid"], signal.SIGKILL)
        exited = await gw.wait_for(lambda r: r["event"] == "worker.exited", "worker exit")
        assert (exited["worker"], exited["pid"], exited["code"]) == (1, start["pid"], -9)
        await gw.wait_for(
            lambda r: r["event"] == "start" and r.get("worker") == 1 and r["pid"] != start["pid"],
            "worker 1 started again",
        )
    finally:
        assert await gw.stop() == 0
