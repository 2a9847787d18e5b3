"""Shared fixtures: real servers on loopback, real SQLite, Redis and PostgreSQL.

`walletgate` starts a real bundled backend and a real gateway in front of it,
both on 127.0.0.1 port 0, with SQLite files in the test's tmp_path. Each
test run gets its own Redis key prefix and its own PostgreSQL database.

Modules marked `pytest.mark.deployments` run each gateway test twice: on the embedded
defaults (SQLite, in-process limits and replay set) and scale-out (the real
Redis for limits and replay, the run's PostgreSQL database for keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid as uuid_module
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as redis_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from backend.app import create_app as create_backend_app
from gateway.app import build_app
from gateway.config import Settings, load_settings, validate
from gateway.http.admin import build_admin_app
from gateway.http.context import GATEWAY, Gateway
from gateway.http.listener import GatewayRunner
from gateway.order_schemes_config import parse_order_schemes
from gateway.wallets.order_checks import check_settings
from gateway.wallets.signing import EvmSigner, StacksSigner, sign_order, signed_body
from tests.support.services import PrivateRedis, PrivateRedisCluster, free_port

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"

# Private keys of the signing vectors (tests/vectors): fixed, so failures replay.
STACKS_KEY = "7b9f0a6ad0de8f5aa7d3b3f0e3fe2b1bce0c2b3c1f5a1f8a2c5e54c2c1f3a90b01"
EVM_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


class Clock:
    """A settable wall clock shared by every part of a gateway under test."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def redis_prefix(run_id: str) -> str:
    return f"wgtest-{run_id}"


@pytest.fixture
async def redis_url(redis_prefix: str) -> AsyncIterator[str]:
    """The real Redis; keys this run made (its prefix) are deleted afterwards."""
    yield REDIS_URL
    client = redis_asyncio.from_url(REDIS_URL)
    try:
        async for name in client.scan_iter(match=f"*{redis_prefix}*", count=1000):
            await client.delete(name)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def postgres_database(run_id: str) -> Any:
    """A PostgreSQL database of this run's own, created and dropped here."""
    name = f"wg_test_{run_id}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def stacks_signer() -> StacksSigner:
    return StacksSigner(STACKS_KEY)


@pytest.fixture
def evm_signer() -> EvmSigner:
    return EvmSigner(EVM_KEY)


@pytest.fixture
def other_stacks_signer() -> StacksSigner:
    return StacksSigner(secrets.token_hex(32) + "01")


def make_settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    """Test settings: ports 0, SQLite in tmp_path, generous management and per-IP
    signing limits (tests that are about those limits set their own)."""
    environ = {
        "WALLETGATE_LISTEN__PORT": "0",
        "WALLETGATE_ADMIN__PORT": "0",
        "WALLETGATE_STORE__URL": f"sqlite:///{tmp_path / 'walletgate.db'}",
        "WALLETGATE_RATE_LIMITS__MANAGEMENT_PER_MINUTE": "1000",
        "WALLETGATE_RATE_LIMITS__MANAGEMENT_PER_HOUR": "10000",
        "WALLETGATE_RATE_LIMITS__IP_SIGNED_PER_MINUTE": "10000",
        "WALLETGATE_RATE_LIMITS__IP_KEY_CREATION_PER_MINUTE": "1000",
        "WALLETGATE_RATE_LIMITS__IP_KEY_CREATION_PER_HOUR": "10000",
        "WALLETGATE_KEYS__INVALIDATION_INTERVAL_S": "0.2",
        "WALLETGATE_USAGE__FLUSH_INTERVAL_S": "0.2",
        # Background probes would show up in what test upstreams received;
        # the tests of dependency transitions set their own interval.
        "WALLETGATE_LOG__HEALTH_INTERVAL_S": "3600",
    }
    settings = load_settings(None, environ)
    for section, values in sections.items():
        if section in ("service_keys", "routes", "tiers"):
            settings = _with_tables(settings, section, values)
        elif section == "order_schemes":
            # Raw TOML tables, parsed as `[order_schemes.*]` in a file would be.
            settings = _with_tables(settings, section, parse_order_schemes(values))
        else:
            settings = settings.replace(section, **values)
    if "order_schemes" in sections:
        validate(settings)
        check_settings(settings)
    return settings


def _with_tables(settings: Settings, section: str, values: Any) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, **{section: tuple(values)})


@dataclass
class RunningGateway:
    """A gateway and the real backend behind it, both up on loopback."""

    client: aiohttp.ClientSession
    url: str
    admin_url: str
    backend_url: str
    app: web.Application
    clock: Clock
    backend_requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gw(self) -> Gateway:
        return self.app[GATEWAY]

    def at(self, path: str) -> str:
        return self.url + path


def order_body(owner: str, **overrides: Any) -> dict[str, Any]:
    """An order of the documented shape, unsigned."""
    body = {
        "owner": owner,
        "inputToken": "SP1ABC123DEF456.token-a",
        "outputToken": "SP1ABC123DEF456.token-b",
        "amountIn": "1000000",
        "targetPrice": "1.5",
        "direction": "gt",
        "conditionToken": "SP1ABC123DEF456.price-oracle",
        "recipient": owner,
        "uuid": f"uuid-{uuid_module.uuid4().hex}",
    }
    body.update(overrides)
    return body


def signed_order(signer: StacksSigner | EvmSigner, **overrides: Any) -> dict[str, Any]:
    return sign_order(signer, order_body(signer.address, **overrides))


GatewayFactory = Callable[..., Any]


class Deployment(StrEnum):
    EMBEDDED = "embedded"
    SCALE_OUT = "scale-out"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`pytestmark = pytest.mark.deployments`: each test that starts a gateway, on both."""
    marked = metafunc.definition.get_closest_marker("deployments") is not None
    if marked and "deployment" in metafunc.fixturenames:
        metafunc.parametrize("deployment", list(Deployment), indirect=True, ids=str)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a test's gateways keep state; `database` only when scaled out."""

    kind: Deployment
    database: str | None = None


@pytest.fixture
def deployment(request: pytest.FixtureRequest) -> Target:
    """The embedded defaults, unless parametrised (see `pytest_generate_tests`).

    Synchronous on purpose: the run's PostgreSQL database is a session
    fixture that must not be created from inside a test's event loop.
    """
    kind = Deployment(getattr(request, "param", Deployment.EMBEDDED))
    if kind == Deployment.EMBEDDED:
        return Target(kind)
    return Target(kind, request.getfixturevalue("postgres_database"))


async def _execute(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def scale_out_sections(
    database: str, redis_prefix: str
) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """Settings sections for Redis and this run's PostgreSQL database, isolated per test.

    Each test gets a schema of its own in the run's database (the store's
    connections select it with `search_path`) and a Redis key prefix of its
    own, both removed afterwards: key listings, usage counts and rate-limit
    windows of one test never see another's.
    """
    token = secrets.token_hex(4)
    schema = f"wg_e2e_{token}"
    prefix = f"{redis_prefix}-e2e-{token}"
    await _execute(database, f'CREATE SCHEMA "{schema}"')
    try:
        yield {
            "store": {"url": f"{database}?search_path={schema}"},
            "redis": {"url": REDIS_URL, "prefix": prefix},
        }
    finally:
        await _execute(database, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        client = redis_asyncio.from_url(REDIS_URL)
        try:
            async for key in client.scan_iter(match=f"{prefix}*", count=1000):
                await client.delete(key)
        finally:
            await client.aclose()


def _merged(base: dict[str, dict[str, Any]], sections: dict[str, Any]) -> dict[str, Any]:
    """`sections` over `base`, key by key within a section: the test's own values win."""
    merged: dict[str, Any] = dict(sections)
    for name, values in base.items():
        merged[name] = values | sections.get(name, {})
    return merged


class GatewayTestServer(TestServer):
    """TestServer on the gateway's own runner, as `walletgate` serves it."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        # aiohttp's test server cancels a handler when its client hangs up;
        # `walletgate` does not (the handler sees the lost connection instead).
        kwargs["handler_cancellation"] = False
        return GatewayRunner(self.app, **kwargs)


@pytest.fixture
async def start_gateway(
    tmp_path: Path, deployment: Target, redis_prefix: str
) -> AsyncIterator[GatewayFactory]:
    """Factory: start(settings_overrides..., clock=None) -> RunningGateway.

    The backend records what reached it (headers), so tests can assert on
    exactly what the upstream saw. Gateways run on the test's `deployment`.
    """
    async with contextlib.AsyncExitStack() as stack:
        base: dict[str, dict[str, Any]] = {}
        if deployment.database is not None:
            sections = scale_out_sections(deployment.database, redis_prefix)
            base = await stack.enter_async_context(sections)
        async for factory in _gateways(tmp_path, base):
            yield factory


async def _gateways(
    tmp_path: Path, base: dict[str, dict[str, Any]]
) -> AsyncIterator[GatewayFactory]:
    servers: list[TestServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(clock: Clock | None = None, **sections: dict[str, Any]) -> RunningGateway:
        clock = clock or Clock()
        seen: list[dict[str, Any]] = []
        backend_app = create_backend_app(str(tmp_path / f"orders-{len(servers)}.db"))
        backend_app.middlewares.insert(0, _recorder(seen))
        backend = TestServer(backend_app, host="127.0.0.1", port=0)
        await backend.start_server()
        servers.append(backend)
        backend_url = str(backend.make_url("")).rstrip("/")
        upstream = {"url": backend_url} | sections.pop("upstream", {})
        settings = make_settings(tmp_path, upstream=upstream, **_merged(base, sections))
        app = build_app(settings, clock=clock)
        server = GatewayTestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        admin = TestServer(build_admin_app(app), host="127.0.0.1", port=0)
        await admin.start_server()
        servers.append(admin)
        client = aiohttp.ClientSession()
        sessions.append(client)
        return RunningGateway(
            client=client,
            url=str(server.make_url("")).rstrip("/"),
            admin_url=str(admin.make_url("")).rstrip("/"),
            backend_url=backend_url,
            app=app,
            clock=clock,
            backend_requests=seen,
        )

    yield start
    for session in sessions:
        await session.close()
    for server in reversed(servers):
        await server.close()


def _recorder(seen: list[dict[str, Any]]) -> Any:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(
            {"method": request.method, "path": request.path_qs, "headers": dict(request.headers)}
        )
        return await handler(request)

    return record


@pytest.fixture
async def gateway(start_gateway: GatewayFactory) -> RunningGateway:
    """A gateway with default settings in front of the bundled backend."""
    return await start_gateway()


def now_ms(gw: RunningGateway) -> int:
    return int(gw.clock() * 1000)


async def create_api_key(
    gw: RunningGateway,
    signer: StacksSigner | EvmSigner,
    name: str = "My Trading Bot",
    permissions: tuple[str, ...] = ("create", "execute", "cancel"),
    **extra: Any,
) -> dict[str, Any]:
    """Create a key through the real endpoint; returns the 201 body."""
    fields = {"keyName": name, "permissions": list(permissions), **extra}
    body = signed_body(signer, "create_api_key", fields, now_ms=now_ms(gw))
    async with gw.client.post(gw.at("/api/v1/api-keys"), json=body) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def create_order(
    gw: RunningGateway,
    signer: StacksSigner | EvmSigner,
    api_key: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Create a signed order through the gateway; returns the backend's order data."""
    headers = {"X-API-Key": api_key} if api_key else {}
    order = signed_order(signer, **overrides)
    async with gw.client.post(gw.at("/api/v1/orders/new"), json=order, headers=headers) as r:
        assert r.status == 201, await r.text()
        return (await r.json())["data"]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis(free_port())
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedisCluster]:
    """A real 3-master Redis Cluster on loopback ports, shared by the run's tests.

    Tests keep to their own key prefixes; a test that stops a node starts it
    again and waits for `cluster_state:ok` before it ends.
    """
    cluster = PrivateRedisCluster(str(tmp_path_factory.mktemp("redis-cluster")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Never let a leaked SQLite worker thread hang the interpreter at exit.

    aiosqlite runs each connection on a non-daemon thread that only stops when
    the connection is closed; one left open (a connect cancelled under heavy
    load) would keep the test process alive after the last test, so a green
    run would never end. Such a thread is told to stop and named on stderr.
    """
    import sys
    import threading

    from aiosqlite import core as aiosqlite_core

    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if target is aiosqlite_core._connection_worker_thread and thread.is_alive():
            print(
                f"walletgate tests: stopping a leaked SQLite thread {thread.name}", file=sys.stderr
            )
            queue = thread._args[0]  # type: ignore[attr-defined]
            queue.put_nowait((None, lambda: aiosqlite_core._STOP_RUNNING_SENTINEL))
