"""SIGHUP to a real `walletgate gateway` under a bounded concurrent load.

New rate limits, routes, service keys and log settings apply to new requests;
no request of the load fails or is dropped; an invalid file is refused with a
log line and the running configuration kept; a restart-only change is logged
and ignored.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.auth.policy import DEFAULT_ROUTES
from gateway.wallets.signing import StacksSigner, signed_headers
from tests.support.log_support import EchoUpstream, LoggedGateway, start_logged_gateway
from tests.support.services import free_port

WORKERS = 6
MAX_REQUESTS_PER_WORKER = 20_000
SERVICE_KEY = "svc_" + secrets.token_urlsafe(32)
MARKETS = {"method": "GET", "path": "/api/v1/markets", "public": True}


def config_text(
    tmp_path: Path,
    *,
    port: int,
    admin_port: int,
    management_per_minute: int,
    extra_routes: tuple[dict[str, Any], ...] = (),
    service_key: bool = False,
    access: bool = False,
) -> str:
    lines = [
        "[listen]",
        f"port = {port}",
        "[admin]",
        f"port = {admin_port}",
        "[store]",
        f'url = "sqlite:///{tmp_path / "walletgate.db"}"',
        "[rate_limits]",
        "public_per_minute = 1000000",
        f"management_per_minute = {management_per_minute}",
        "management_per_hour = 100000",
        "[log]",
        f"access = {'true' if access else 'false'}",
    ]
    if service_key:
        digest = hashlib.sha256(SERVICE_KEY.encode()).hexdigest()
        lines += ["[[service_keys]]", f'sha256 = "{digest}"', 'name = "frontend"']
    routes = [
        {
            "method": r.method,
            "path": r.path,
            "permission": r.permission,
            "owner": r.owner,
            "action": r.action,
            "public": r.public,
            "order_signature": r.order_signature,
        }
        for r in DEFAULT_ROUTES
    ]
    for route in (*routes, *extra_routes):
        lines.append("[[routes]]")
        for name, value in route.items():
            shown = ("true" if value else "false") if isinstance(value, bool) else f'"{value}"'
            lines.append(f"{name} = {shown}")
    return "\n".join(lines) + "\n"


class Load:
    """Workers on keep-alive connections, each asking until told to stop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _worker(self) -> None:
        async with aiohttp.ClientSession() as client:
            for _ in range(MAX_REQUESTS_PER_WORKER):
                if self._stop.is_set():
                    return
                try:
                    async with client.get(self.url) as response:
                        await response.read()
                        self.statuses.append(response.status)
                except aiohttp.ClientError as exc:
                    self.errors.append(repr(exc))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(WORKERS)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def status(client: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> int:
    async with client.request(method, url, **kwargs) as response:
        await response.read()
        return response.status


async def list_keys(client: aiohttp.ClientSession, gw: LoggedGateway, signer: StacksSigner) -> int:
    await asyncio.sleep(0.002)  # a fresh timestamp: each signed message is used once
    headers = signed_headers(signer, "list_api_keys", {}, now_ms=int(time.time() * 1000))
    return await status(client, "GET", gw.at("/api/v1/api-keys"), headers=headers)


@pytest.fixture
async def upstream() -> Any:
    server = EchoUpstream()
    await server.start()
    yield server
    await server.stop()


async def test_sighup_applies_limits_routes_keys_and_logs_without_failing_a_request(
    tmp_path, upstream, stacks_signer, other_stacks_signer, evm_signer
):
    port, admin_port = free_port(), free_port()
    config = tmp_path / "walletgate.toml"

    def write(**changes: Any) -> None:
        options = {"port": port, "admin_port": admin_port, "management_per_minute": 1000}
        config.write_text(config_text(tmp_path, **(options | changes)), encoding="utf-8")

    write()
    gw = await start_logged_gateway(
        tmp_path, upstream.url, "--config", str(config), "--log-format", "json"
    )
    load = Load(gw.at("/api/v1/orders"))
    load.start()
    generate = {"X-API-Key": SERVICE_KEY, "X-Wallet-Address": evm_signer.address}
    try:
        async with aiohttp.ClientSession() as client:
            assert await status(client, "GET", gw.at("/api/v1/markets")) == 404
            assert [await list_keys(client, gw, stacks_signer) for _ in range(3)] == [200] * 3
            assert await status(client, "POST", gw.at("/api-key/generate"), headers=generate) == 401

            new = {
                "management_per_minute": 2,
                "extra_routes": (MARKETS,),
                "service_key": True,
                "access": True,
            }
            write(**new)
            await gw.hup()
            applied = await gw.wait_for(lambda r: r["event"] == "reload", "the reload")
            assert set(applied["applied"]) == {"rate_limits", "routes", "service_keys", "log"}
            assert await status(client, "GET", gw.at("/api/v1/markets")) == 200
            fresh = [await list_keys(client, gw, other_stacks_signer) for _ in range(3)]
            assert fresh == [200, 200, 429]
            assert await status(client, "POST", gw.at("/api-key/generate"), headers=generate) == 200
            await gw.wait_for(
                lambda r: r["event"] == "request" and r["route"] == "/api/v1/markets",
                "an access line, now that [log] access is on",
            )

            config.write_text("[rate_limits\nthis is not TOML", encoding="utf-8")
            await gw.hup()
            failed = await gw.wait_for(lambda r: r["event"] == "reload.failed", "the refusal")
            assert "TOML" in failed["reason"] and failed["level"] == "error"
            assert await status(client, "GET", gw.at("/api/v1/markets")) == 200  # kept
            assert await list_keys(client, gw, other_stacks_signer) == 429  # limit 2 kept

            write(**new, port=free_port())
            await gw.hup()
            ignored = await gw.wait_for(
                lambda r: r["event"] == "reload.restart_required", "the restart-only change"
            )
            assert ignored["keys"] == ["listen.port"] and ignored["level"] == "warning"
            assert await status(client, "GET", gw.at("/api/v1/markets")) == 200  # same port
    finally:
        await load.stop()
        code = await gw.stop()
    assert code == 0
    assert load.errors == []
    assert len(load.statuses) > WORKERS and set(load.statuses) == {200}
    assert len(gw.events("reload")) == 2  # the good file, and the restart-only one
