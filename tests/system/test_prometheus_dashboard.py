"""The dashboard and the rules against a real Prometheus scraping a real gateway under traffic.

Every dashboard query and every recording and alert rule expression is
evaluated through Prometheus's HTTP API: none may error, and no series may
lack a label its panel's legend names (a `… or vector(0)` beside labelled
series adds exactly such an unlabelled phantom with a blank legend).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.support.log_support import EchoUpstream, LoggedGateway, start_logged_gateway
from tests.support.prometheus_support import RULES, Prometheus, running_prometheus

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config" / "grafana-dashboard.json"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Grafana's variables as a dashboard with "All" instances would send them.
VARIABLES = {"$__rate_interval": "10s", "$instance": ".*"}
WAIT_S = 30.0


def dashboard_targets() -> list[tuple[str, str, str]]:
    """(panel title, expression, legend format) of every query."""
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    return [
        (p["title"], t["expr"], t.get("legendFormat", ""))
        for p in panels
        for t in p.get("targets", [])
    ]


def rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [(r.get("record") or r["alert"], r["expr"]) for g in groups for r in g["rules"]]


def with_variables(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def phantoms(result: list[dict[str, Any]], legend: str) -> list[dict[str, str]]:
    """Series that lack a label the legend shows (they would have a blank legend)."""
    needed = set(PLACEHOLDER.findall(legend))
    return [s["metric"] for s in result if not needed <= set(s["metric"])]


async def traffic(gw: LoggedGateway, upstream: EchoUpstream, seconds: float) -> None:
    """Answered, refused, rate-limited, badly signed and upstream-failed requests."""
    bad_key = {"X-API-Key": "ck_live_" + "0" * 40}
    bad_signature = {
        "X-Message": json.dumps({"action": "list_api_keys", "timestamp": 1}),
        "X-Signature": "00" * 65,
        "X-Wallet-Address": "SP3J4NWKD3AM2HWSZD0BBS1KQR5RT0SR63T5TGCM3",
    }
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession() as client:
        while loop.time() < deadline:
            for headers in ({}, bad_key, bad_signature):
                async with client.get(gw.at("/api/v1/orders"), headers=headers) as r:
                    await r.read()
            async with client.get(gw.at("/api/v1/api-keys"), headers=bad_signature) as r:
                await r.read()
            await asyncio.sleep(0.05)
        # The upstream goes away: forwarded requests now fail there (502).
        await upstream.stop()
        for _ in range(3):
            async with client.get(gw.at("/api/v1/orders")) as r:
                await r.read()
        await asyncio.sleep(2.5)  # two more scrapes see it


async def scraped(prometheus: Prometheus, client: aiohttp.ClientSession, name: str) -> None:
    for _ in range(int(WAIT_S / 0.2)):  # bounded
        answer = await prometheus.query(client, f"count_over_time({name}[1m])")
        if answer["data"]["result"] and float(answer["data"]["result"][0]["value"][1]) >= 3:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"prometheus never scraped {name} three times")


@pytest.fixture
async def upstream() -> Any:
    server = EchoUpstream()
    await server.start()
    yield server
    await server.stop()


async def test_every_dashboard_query_and_rule_evaluates_without_phantom_series(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    env = {
        "WALLETGATE_STORE__URL": f"sqlite:///{tmp_path / 'walletgate.db'}",
        "WALLETGATE_LISTEN__PORT": "0",
        "WALLETGATE_ADMIN__PORT": "0",
        # Signed requests soon get 429s; public ones never do.
        "WALLETGATE_RATE_LIMITS__PUBLIC_PER_MINUTE": "100000",
        "WALLETGATE_RATE_LIMITS__IP_SIGNED_PER_MINUTE": "30",
    }
    gw = await start_logged_gateway(tmp_path, upstream.url, env=env)
    try:
        target = gw.admin_url.removeprefix("http://")
        async with (
            running_prometheus(tmp_path, target) as prometheus,
            aiohttp.ClientSession() as client,
        ):
            await scraped(prometheus, client, 'up{job="walletgate"}')
            await traffic(gw, upstream, seconds=6.0)
            await scraped(prometheus, client, "walletgate_upstream_errors_total")
            await check_dashboard(prometheus, client)
            await check_rules(prometheus, client)
    finally:
        assert await gw.stop() == 0


async def check_dashboard(prometheus: Prometheus, client: aiohttp.ClientSession) -> None:
    empty = []
    for title, expr, legend in dashboard_targets():
        answer = await prometheus.query(client, with_variables(expr))
        assert answer["status"] == "success", (title, expr, answer)
        result = answer["data"]["result"]
        assert phantoms(result, legend) == [], (title, expr, result)
        if not result:
            empty.append(title)
    # The mix reaches every error panel, so the check above had series to look at.
    for title in ("Auth failures by reason", "429s by scope", "Upstream and limiter errors"):
        assert title not in empty, (title, empty)


async def check_rules(prometheus: Prometheus, client: aiohttp.ClientSession) -> None:
    for name, expr in rule_expressions():
        answer = await prometheus.query(client, expr)
        assert answer["status"] == "success", (name, expr, answer)
    loaded = await prometheus.get(client, "/api/v1/rules")
    names = {r["name"] for g in loaded["data"]["groups"] for r in g["rules"]}
    assert names == {name for name, _ in rule_expressions()}
    # A ratio recorded over the traffic carries the job, never an empty label set.
    rules = dict(rule_expressions())
    answer = await prometheus.query(client, rules["job:walletgate_auth_failures:ratio_rate5m"])
    [series] = answer["data"]["result"]
    assert series["metric"] == {"job": "walletgate"}
    assert 0 < float(series["value"][1]) < 1


async def test_phantom_check_catches_a_bare_or_vector_zero(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    """The check itself can fail: the old panel query yields an unlabelled series."""
    env = {
        "WALLETGATE_STORE__URL": f"sqlite:///{tmp_path / 'walletgate.db'}",
        "WALLETGATE_LISTEN__PORT": "0",
        "WALLETGATE_ADMIN__PORT": "0",
    }
    gw = await start_logged_gateway(tmp_path, upstream.url, env=env)
    old = (
        'sum by (reason) (rate(walletgate_auth_failures_total{instance=~"$instance"}'
        "[$__rate_interval])) or vector(0)"
    )
    try:
        target = gw.admin_url.removeprefix("http://")
        async with (
            running_prometheus(tmp_path, target) as prometheus,
            aiohttp.ClientSession() as client,
        ):
            async with client.get(
                gw.at("/api/v1/orders"), headers={"X-API-Key": "ck_live_" + "0" * 40}
            ) as r:
                assert r.status == 401
            await scraped(prometheus, client, "walletgate_auth_failures_total")
            answer = await prometheus.query(client, with_variables(old))
            assert phantoms(answer["data"]["result"], "{{reason}}") == [{}]
    finally:
        assert await gw.stop() == 0
