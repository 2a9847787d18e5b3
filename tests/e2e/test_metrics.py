"""Prometheus metrics after a scripted mix of requests, and the
operator assets that read them (config/prometheus.yml, the Grafana dashboard)."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.wallets.signing import signed_headers
from tests.conftest import Clock, RunningGateway, create_api_key, create_order, now_ms
from tests.support.rate_limit_support import (
    NOON,
    RESET_PREFIX,
    call,
    server_url,
    start_faulty_upstream,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config" / "grafana-dashboard.json"
PROMETHEUS = ROOT / "config" / "prometheus.yml"
EXECUTE = "/api/v1/orders/{uuid}/execute"
ORDER = "/api/v1/orders/{uuid}"
METRIC_NAME = re.compile(r"\b(?:walletgate|process)_[a-z0-9_]+\b")
# A metric selector: the name and its label matchers, if any.
SELECTOR = re.compile(r"\b((?:walletgate|process)_[a-z0-9_]+)(\{[^}]*\})?")
GROUPING = r"(?:\s+(?:by|without)\s*\([^)]*\))?\s*"
GAUGES = ("walletgate_api_keys", "process_resident_memory_bytes")
# Panels of things that are usually zero: they must show 0, not "No data".
ERROR_PANELS = ("Auth failures by reason", "429s by scope", "Upstream and limiter errors")
WALLET_LIKE = re.compile(r"0x[0-9a-fA-F]{40}|S[PTMN][0-9A-Z]{20,}")


@dataclass(frozen=True, slots=True)
class Scrape:
    samples: list[Sample]
    secrets: set[str]  # keys, key ids, wallets, IPs and raw paths the mix used

    def value(self, name: str, **labels: str) -> float:
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) == 1, f"{name}{labels}: {found}"
        return found[0]

    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name}


@pytest.fixture
async def faulty_upstream(tmp_path: Path) -> AsyncIterator[TestServer]:
    server = await start_faulty_upstream(tmp_path / "faulty-orders.db")
    yield server
    await server.close()


async def scripted_mix(gw: RunningGateway, stacks_signer, evm_signer) -> set[str]:
    """One request of each interesting kind; returns the values no label may hold."""
    key = await create_api_key(gw, stacks_signer)
    headers = {"X-API-Key": key["apiKey"]}
    listing = signed_headers(evm_signer, "list_api_keys", {}, now_ms=now_ms(gw))
    assert (await call(gw.client, "GET", gw.at("/api/v1/api-keys"), headers=listing)).status == 200
    order = await create_order(gw, stacks_signer, api_key=key["apiKey"])
    execute = gw.at(f"/api/v1/orders/{order['uuid']}/execute")
    statuses = [
        (await call(gw.client, "POST", execute, headers=headers)).status,
        (await call(gw.client, "POST", execute, headers=headers)).status,  # already filled
        (await call(gw.client, "POST", execute, headers={"X-API-Key": key["apiKey"][:-3]})).status,
    ]
    forged = signed_headers(evm_signer, "execute_order", {"uuid": order["uuid"]}, now_ms=now_ms(gw))
    forged["X-Wallet-Address"] = stacks_signer.address
    statuses.append((await call(gw.client, "POST", execute, headers=forged)).status)
    assert statuses == [200, 400, 401, 401]

    single = await create_api_key(gw, stacks_signer, name="single", rateLimit=1)
    orders = gw.at("/api/v1/orders")
    limited = [
        (await call(gw.client, "GET", orders, headers={"X-API-Key": single["apiKey"]})).status
        for _ in range(2)
    ]
    assert limited == [200, 429]
    reset = await call(gw.client, "GET", gw.at(f"{RESET_PREFIX}{order['uuid']}"), headers=headers)
    assert reset.status == 502
    public = await call(gw.client, "GET", gw.at(f"/api/v1/orders/{order['uuid']}"))
    assert public.status == 200
    stray = f"/stray-{order['uuid']}"
    assert (await call(gw.client, "GET", gw.at(stray))).status == 404
    revoke = signed_headers(
        stacks_signer, "delete_api_key", {"keyId": single["keyId"]}, now_ms=now_ms(gw) + 1
    )
    revoked = await call(
        gw.client, "DELETE", gw.at(f"/api/v1/api-keys/{single['keyId']}"), headers=revoke
    )
    assert revoked.status == 200, revoked.body
    return {
        key["apiKey"],
        key["keyId"],
        single["apiKey"],
        single["keyId"],
        stacks_signer.address,
        evm_signer.address,
        evm_signer.address.lower(),
        order["uuid"],
        stray,
        "127.0.0.1",
    }


@pytest.fixture
async def scrape(start_gateway, faulty_upstream, stacks_signer, evm_signer) -> Scrape:
    gw = await start_gateway(
        clock=Clock(now=NOON + 15), upstream={"url": server_url(faulty_upstream)}
    )
    secrets = await scripted_mix(gw, stacks_signer, evm_signer)
    reply = await call(gw.client, "GET", gw.admin_url + "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    families = list(text_string_to_metric_families(reply.raw.decode()))
    return Scrape([s for f in families for s in f.samples], secrets)


def test_requests_are_counted_by_route_template_method_status_and_auth(scrape: Scrape):
    requests = "walletgate_requests_total"
    assert scrape.value(requests, route=EXECUTE, method="POST", status="200", auth="api_key") == 1
    assert scrape.value(requests, route=EXECUTE, method="POST", status="400", auth="api_key") == 1
    assert scrape.value(requests, route=EXECUTE, method="POST", status="401", auth="none") == 2
    assert scrape.value(requests, route=ORDER, method="GET", status="502", auth="api_key") == 1
    assert scrape.value(requests, route=ORDER, method="GET", status="200", auth="public") == 1
    orders = "/api/v1/orders"
    assert scrape.value(requests, route=orders, method="GET", status="429", auth="api_key") == 1
    keys = "/api/v1/api-keys"
    assert scrape.value(requests, route=keys, method="POST", status="201", auth="signature") == 2
    assert scrape.value(requests, route=keys, method="GET", status="200", auth="signature") == 1
    assert scrape.value(requests, route="unmatched", method="GET", status="404", auth="none") == 1
    assert (
        scrape.value(
            requests, route="/api/v1/orders/new", method="POST", status="201", auth="api_key"
        )
        == 1
    )


def test_latency_histograms_cover_gateway_and_upstream(scrape: Scrape):
    duration = "walletgate_request_duration_seconds"
    upstream = "walletgate_upstream_duration_seconds"
    assert scrape.value(f"{duration}_count", route=EXECUTE) == 4
    assert scrape.value(f"{duration}_bucket", route=EXECUTE, le="+Inf") == 4
    # Only the two admitted executes reached the upstream.
    assert scrape.value(f"{upstream}_count", route=EXECUTE) == 2
    assert scrape.value(f"{upstream}_bucket", route=ORDER, le="+Inf") >= 1
    buckets = scrape.label_values(f"{duration}_bucket", "le")
    assert {"0.0005", "0.001", "0.01", "0.1", "1.0", "+Inf"} <= buckets


def test_failures_limits_and_signatures_are_counted_by_closed_labels(scrape: Scrape):
    assert scrape.value("walletgate_auth_failures_total", reason="invalid_api_key") == 1
    assert scrape.value("walletgate_auth_failures_total", reason="invalid_signature") == 1
    assert scrape.value("walletgate_rate_limited_total", scope="key") == 1
    assert scrape.label_values("walletgate_rate_limited_total", "scope") == {"key"}
    verifications = "walletgate_signature_verifications_total"
    assert scrape.value(verifications, chain="stacks", result="valid") == 4
    assert scrape.value(verifications, chain="stacks", result="invalid") == 1
    assert scrape.value(verifications, chain="evm", result="valid") == 1
    assert scrape.value("walletgate_upstream_errors_total", kind="unavailable") == 1
    assert scrape.value("walletgate_rate_limiter_errors_total") == 0


def test_api_keys_gauge_reports_the_store_by_status(scrape: Scrape):
    assert scrape.value("walletgate_api_keys", status="active") == 1
    assert scrape.value("walletgate_api_keys", status="revoked") == 1
    assert scrape.value("walletgate_api_keys", status="suspended") == 0
    assert {"process_resident_memory_bytes", "python_gc_collections_total"} <= scrape.names()


def test_no_label_value_is_a_key_wallet_ip_or_raw_path(scrape: Scrape):
    values = {value for sample in scrape.samples for value in sample.labels.values()}
    assert values
    for value in values:
        assert not any(secret in value for secret in scrape.secrets), value
        assert not WALLET_LIKE.search(value), value
        assert not value.startswith(("ck_live_", "stk_", "key_")), value
        with pytest.raises(ValueError):
            ipaddress.ip_address(value)
    routes = scrape.label_values("walletgate_requests_total", "route")
    assert all(route.startswith("/") or route == "unmatched" for route in routes)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def test_dashboard_is_a_grafana_dashboard_with_the_promised_panels():
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
        assert panel["targets"] and all(t["refId"] for t in panel["targets"])
    exprs = " ".join(dashboard_exprs())
    for needed in (
        "sum by (route, status) (rate(walletgate_requests_total",
        "histogram_quantile(0.5, sum by (le) (rate(walletgate_request_duration_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(walletgate_upstream_duration_seconds_bucket",
        "sum by (reason) (rate(walletgate_auth_failures_total",
        "sum by (scope) (rate(walletgate_rate_limited_total",
        "sum by (chain, result) (rate(walletgate_signature_verifications_total",
        "max by (status) (walletgate_api_keys{",
    ):
        assert needed in exprs, needed


def test_dashboard_selects_instances_through_a_variable():
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    instance = variables["instance"]
    assert instance["type"] == "query"
    assert "label_values(walletgate_requests_total, instance)" in json.dumps(instance["query"])
    assert instance["includeAll"] and instance["multi"] and instance["allValue"] == ".*"
    for expr in dashboard_exprs():
        for name, labels in SELECTOR.findall(expr):
            assert 'instance=~"$instance"' in labels, (expr, name)


def test_dashboard_never_adds_up_a_gauge_across_instances():
    """Every instance reports the same key store: a sum would count each key N times."""
    for expr in dashboard_exprs():
        for gauge in GAUGES:
            if gauge in expr:
                assert not re.search(rf"\bsum{GROUPING}\(\s*{gauge}\b", expr), expr
                assert re.search(rf"\b(max|min|avg){GROUPING}\(\s*{gauge}\b", expr), expr
    assert any("by (instance)" in expr for expr in dashboard_exprs())


def test_error_panels_show_zero_instead_of_no_data_without_a_phantom_series():
    """`… or vector(0)` beside labelled series adds an unlabelled zero series (a
    blank legend entry); the panels show 0 for "no series yet" instead."""
    panels = {p["title"]: p for p in dashboard()["panels"]}
    for title in (*ERROR_PANELS, "5xx ratio"):
        assert panels[title]["fieldConfig"]["defaults"]["noValue"] == "0", title
    for expr in dashboard_exprs():
        assert not re.search(r"\bor\s+vector\(", expr), expr


def test_dashboard_queries_only_metrics_that_metrics_exposes(scrape: Scrape):
    exposed = scrape.names()
    for expr in dashboard_exprs():
        referenced = set(METRIC_NAME.findall(expr))
        assert referenced, expr
        assert referenced <= exposed, (expr, referenced - exposed)


def test_prometheus_scrapes_the_admin_listener():
    text = PROMETHEUS.read_text(encoding="utf-8")
    assert re.search(r"^\s*- job_name: walletgate$", text, re.MULTILINE)
    assert re.search(r"^\s*metrics_path: /metrics$", text, re.MULTILINE)
    assert re.search(r'^\s*- targets: \["127\.0\.0\.1:9100"\]$', text, re.MULTILINE)
    # The bearer token is documented but commented out: no secret in the file.
    assert all(line.lstrip().startswith("#") for line in text.splitlines() if "Bearer" in line)
