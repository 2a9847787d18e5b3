"""Many cores: `walletgate gateway --workers N` as real processes.

A supervisor and its workers share one public port (SO_REUSEPORT) and one
admin listener. Requests go out on a fresh connection each, so the kernel
spreads them over the workers. Limits, the replay set and revocations hold
across workers and across separate gateways sharing Redis and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from backend.app import create_app as create_backend_app
from gateway.keys.store import open_store
from gateway.keys.token import hash_api_key
from gateway.wallets.signing import StacksSigner, signed_body, signed_headers
from tests.support.process_support import STOP_TIMEOUT_S, GatewayProcess, start_gateway_with

ORDERS = "/api/v1/orders"
BOUND_S = 20.0  # only stops a broken build from hanging the run


@pytest.fixture
async def backend_url(tmp_path: Path) -> AsyncIterator[str]:
    server = TestServer(create_backend_app(str(tmp_path / "orders.db")), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
def shared_environ(redis_url: str, redis_prefix: str, postgres_database: str) -> dict[str, str]:
    """Redis (a prefix of this test) and PostgreSQL, as several gateways would share."""
    return {
        "WALLETGATE_REDIS__URL": redis_url,
        "WALLETGATE_REDIS__PREFIX": f"{redis_prefix}-{secrets.token_hex(4)}",
        "WALLETGATE_STORE__URL": postgres_database,
        "WALLETGATE_RATE_LIMITS__MANAGEMENT_PER_MINUTE": "1000",
        "WALLETGATE_RATE_LIMITS__MANAGEMENT_PER_HOUR": "10000",
        "WALLETGATE_KEYS__INVALIDATION_INTERVAL_S": "0.2",
        "WALLETGATE_USAGE__FLUSH_INTERVAL_S": "0.2",
    }


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[list[GatewayProcess]]:
    """Gateways a test starts; any still running at the end are stopped."""
    processes: list[GatewayProcess] = []
    yield processes
    for process in processes:
        if process.child.returncode is None:
            process.child.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.child.communicate(), STOP_TIMEOUT_S)


async def start(
    started: list[GatewayProcess], environ: dict[str, str], upstream: str, cwd: Path, workers: int
) -> GatewayProcess:
    process = await start_gateway_with(
        environ, "--upstream", upstream, "--workers", str(workers), cwd=cwd
    )
    started.append(process)
    return process


def fresh_connections() -> aiohttp.ClientSession:
    # One connection per request: the kernel picks a worker for each.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0))


async def get(
    client: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    async with client.get(url, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def request_counts(process: GatewayProcess) -> float:
    async with aiohttp.ClientSession() as client, client.get(process.admin_url + "/metrics") as r:
        text = await r.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "walletgate_requests_total"
    )


async def create_key(url: str, signer: StacksSigner) -> dict[str, str]:
    body = signed_body(signer, "create_api_key", {"keyName": "bot", "permissions": []})
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{url}/api/v1/api-keys", json=body) as r,
    ):
        assert r.status == 201, await r.text()
        created: dict[str, str] = await r.json()
        return created


async def eventually(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + BOUND_S
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


def walletgate(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WALLETGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=base | environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_bad_workers_value_stops_start_up_naming_the_key(value: str) -> None:
    result = walletgate(
        "gateway",
        "--upstream",
        "http://127.0.0.1:9",
        "--workers",
        value,
        WALLETGATE_REDIS__URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "listen.workers" in result.stderr


def test_workers_from_config_must_be_a_number(tmp_path: Path) -> None:
    config = tmp_path / "walletgate.toml"
    config.write_text('[listen]\nworkers = "many"\n')
    result = walletgate("--config", str(config), "config", "check")
    assert result.returncode == 2
    assert "listen.workers" in result.stderr


def test_more_than_one_worker_needs_redis(tmp_path: Path) -> None:
    result = walletgate("gateway", "--upstream", "http://127.0.0.1:9", "--workers", "2")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "redis.url" in result.stderr


def test_unreachable_redis_cluster_stops_start_up_naming_redis_url() -> None:
    result = walletgate(
        "gateway",
        "--upstream",
        "http://127.0.0.1:9",
        WALLETGATE_REDIS__URL="redis+cluster://127.0.0.1:1",
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "redis.url" in result.stderr


async def test_metrics_of_the_admin_listener_sum_over_workers(
    started, shared_environ, backend_url, tmp_path
):
    gateway = await start(started, shared_environ, backend_url, tmp_path, workers=2)
    async with fresh_connections() as client:
        replies = await asyncio.gather(*(get(client, gateway.url + ORDERS) for _ in range(60)))
        status, ready = await get(client, gateway.admin_url + "/readyz")
    assert Counter(status for status, _ in replies) == {200: 60}
    assert status == 200
    assert ready["workers"] == {"running": 2, "configured": 2}
    assert len(gateway.worker_pids()) == 2
    # Workers hand their counts to the shared files once a second: wait for
    # them (bounded), then the sum must be exact, not more.
    counted = await request_counts(gateway)
    for _ in range(50):
        if counted >= 60:
            break
        await asyncio.sleep(0.1)
        counted = await request_counts(gateway)
    assert counted == 60


async def test_worker_killed_with_sigkill_is_replaced_and_others_keep_serving(
    started, shared_environ, backend_url, tmp_path
):
    gateway = await start(started, shared_environ, backend_url, tmp_path, workers=2)
    victim, survivor = sorted(gateway.worker_pids())
    os.kill(victim, signal.SIGKILL)
    async with fresh_connections() as client:
        # The dead worker's socket left the port's group: new connections
        # reach the survivor.
        await eventually(lambda: _gone(victim), "the killed worker is still there")
        replies = await asyncio.gather(*(get_once_more(client, gateway.url) for _ in range(30)))
        assert Counter(status for status, _ in replies) == {200: 30}

        async def replaced() -> bool:
            pids = gateway.worker_pids()
            _, ready = await get(client, gateway.admin_url + "/readyz")
            return len(pids) == 2 and victim not in pids and ready["workers"]["running"] == 2  # type: ignore[index]

        await eventually(replaced, "the killed worker was not replaced")
        assert survivor in gateway.worker_pids()
        replies = await asyncio.gather(*(get_once_more(client, gateway.url) for _ in range(30)))
        assert Counter(status for status, _ in replies) == {200: 30}
        _, ready = await get(client, gateway.admin_url + "/readyz")
    assert ready["workers"] == {"running": 2, "configured": 2}


async def get_once_more(client: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    """One retry of a connection the kernel reset: with SO_REUSEPORT a connection
    that was queued at a worker when it died, or that arrives while the group of
    listening sockets changes, is reset (as behind any load balancer, clients
    retry a refused connect). Every request must still be answered 200."""
    try:
        return await get(client, url + ORDERS)
    except aiohttp.ClientConnectorError:
        return await get(client, url + ORDERS)


async def _gone(pid: int) -> bool:
    return "Z" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


@dataclasses.dataclass
class HeldUpstream:
    """An upstream that holds every order request until released, so a test
    knows each one is in flight (arrived, unanswered) when it signals."""

    url: str = ""
    arrived: int = 0
    release: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def wait_for(self, count: int) -> None:
        for _ in range(600):  # bounded: 30 s
            if self.arrived >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"only {self.arrived} of {count} requests reached the upstream")


@pytest.fixture
async def held_upstream() -> AsyncIterator[HeldUpstream]:
    held = HeldUpstream()

    async def hold(request: web.Request) -> web.Response:
        if request.path == ORDERS:
            held.arrived += 1
            await asyncio.wait_for(held.release.wait(), 60)
        return web.json_response({"success": True, "data": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hold)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    held.url = str(server.make_url("")).rstrip("/")
    yield held
    held.release.set()
    await server.close()


async def test_sigterm_drains_every_worker(
    started, shared_environ, held_upstream, tmp_path, stacks_signer
):
    gateway = await start(started, shared_environ, held_upstream.url, tmp_path, workers=2)
    api_key = (await create_key(gateway.url, stacks_signer))["apiKey"]
    headers = {"X-API-Key": api_key}
    async with fresh_connections() as client:
        in_flight = [
            asyncio.ensure_future(get(client, gateway.url + ORDERS, headers)) for _ in range(20)
        ]
        await held_upstream.wait_for(20)  # every one is waiting on the upstream
        gateway.child.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)  # the workers are draining
        held_upstream.release.set()
        replies = await asyncio.gather(*in_flight)
    await asyncio.wait_for(gateway.child.communicate(), STOP_TIMEOUT_S)
    assert gateway.child.returncode == 0
    assert Counter(status for status, _ in replies) == {200: 20}
    # Every worker flushed its usage counts before it exited.
    store = open_store(shared_environ["WALLETGATE_STORE__URL"])
    await store.open()
    try:
        key = await store.get_by_hash(hash_api_key(api_key))
    finally:
        await store.close()
    assert key is not None
    assert key.usage.total_requests == 20


async def test_sighup_reloads_every_worker_and_none_stops(
    started, shared_environ, backend_url, tmp_path
):
    """A changed rate limit reaches every worker; no worker is replaced, no request fails."""
    config = tmp_path / "walletgate.toml"
    config.write_text("[rate_limits]\npublic_per_minute = 300\n", encoding="utf-8")
    environ = shared_environ | {"WALLETGATE_CONFIG": str(config)}
    gateway = await start(started, environ, backend_url, tmp_path, workers=2)
    before = gateway.worker_pids()
    config.write_text("[rate_limits]\npublic_per_minute = 7777\n", encoding="utf-8")
    gateway.child.send_signal(signal.SIGHUP)
    limits: Counter[str] = Counter()
    async with fresh_connections() as client:
        for _ in range(100):  # bounded: the workers reload within a few seconds
            async with client.get(gateway.url + ORDERS) as response:
                assert response.status == 200
                limits[response.headers["X-RateLimit-Limit"]] += 1
            if limits["7777"] >= 20:
                break
            await asyncio.sleep(0.05)
        # After the reload every answer, from whichever worker, has the new limit.
        replies = [await client.get(gateway.url + ORDERS) for _ in range(20)]
        assert {r.headers["X-RateLimit-Limit"] for r in replies} == {"7777"}
        for reply in replies:
            reply.release()
    assert gateway.worker_pids() == before
    gateway.child.send_signal(signal.SIGTERM)
    _, errors = await asyncio.wait_for(gateway.child.communicate(), STOP_TIMEOUT_S)
    assert gateway.child.returncode == 0
    reloads = [line for line in errors.decode().splitlines() if "reload" in line]
    # Each worker, and the supervisor's admin listener (the operator API's tiers and tokens).
    assert sum("rate_limits" in line for line in reloads) == 3, reloads


async def _two_gateways(started, environ, upstream, cwd) -> tuple[GatewayProcess, ...]:  # type: ignore[no-untyped-def]
    return (
        await start(started, environ, upstream, cwd, workers=2),
        await start(started, environ, upstream, cwd, workers=2),
    )


async def test_two_gateways_of_two_workers_admit_exactly_the_limit(
    started, shared_environ, backend_url, tmp_path, stacks_signer
):
    gateways = await _two_gateways(started, shared_environ, backend_url, tmp_path)
    api_key = (await create_key(gateways[0].url, stacks_signer))["apiKey"]
    # Real clocks: keep the burst inside one minute window.
    if time.time() % 60 > 45:
        await asyncio.sleep(61 - time.time() % 60)
    headers = {"X-API-Key": api_key}
    async with fresh_connections() as client:
        replies = await asyncio.gather(
            *(get(client, gateways[n % 2].url + ORDERS, headers) for n in range(300))
        )
    assert Counter(status for status, _ in replies) == {200: 100, 429: 200}


async def test_revocation_through_one_worker_is_refused_by_every_worker(
    started, shared_environ, backend_url, tmp_path, stacks_signer
):
    gateways = await _two_gateways(started, shared_environ, backend_url, tmp_path)
    created = await create_key(gateways[0].url, stacks_signer)
    headers = {"X-API-Key": created["apiKey"]}
    async with fresh_connections() as client:
        before = await asyncio.gather(*(get(client, g.url + ORDERS, headers) for g in gateways))
        assert [status for status, _ in before] == [200, 200]
        revoke = signed_headers(stacks_signer, "delete_api_key", {"keyId": created["keyId"]})
        async with client.delete(
            f"{gateways[0].url}/api/v1/api-keys/{created['keyId']}", headers=revoke
        ) as response:
            assert response.status == 200, await response.text()

        # Each worker drops the key when it next reads the store's change log
        # (every 0.2 s here, 0.5 s by default: within the 1 s the contract
        # allows); the bound only stops a broken build from hanging.
        async def refused_everywhere() -> bool:
            after = await asyncio.gather(
                *(get(client, gateways[n % 2].url + ORDERS, headers) for n in range(40))
            )
            return Counter(status for status, _ in after) == {401: 40}

        await eventually(refused_everywhere, "a worker still admits the revoked key")


async def test_replayed_signed_message_is_refused_by_every_worker(
    started, shared_environ, backend_url, tmp_path, stacks_signer
):
    gateways = await _two_gateways(started, shared_environ, backend_url, tmp_path)
    headers = signed_headers(stacks_signer, "list_api_keys", {})
    async with fresh_connections() as client:
        status, _ = await get(client, gateways[0].url + "/api/v1/api-keys", headers)
        assert status == 200
        replays = await asyncio.gather(
            *(get(client, gateways[n % 2].url + "/api/v1/api-keys", headers) for n in range(20))
        )
    assert Counter(status for status, _ in replays) == {401: 20}
    assert {body["code"] for _, body in replays} == {"SIGNATURE_REPLAYED"}
