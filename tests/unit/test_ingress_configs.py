"""`walletgate ingress`: the Traefik and Envoy configurations by structure, the shared plan.

No Traefik or Envoy binary comes from a package registry here, so their
configurations are parsed and every cross-reference checked: routers name
existing middlewares, services and entry points; Envoy routes name existing
clusters and switch ext_authz off exactly where walletgate serves the path.
nginx and Caddy run for real in tests/system/test_ingress_real.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.app import build_app
from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.config import RouteSettings
from gateway.http.decision import EXT_AUTHZ_PREFIX
from gateway.ingress import RENDERERS, build_plan
from gateway.ingress.plan import (
    CREDENTIAL_HEADERS,
    DECISION_HEADERS,
    IDENTITY_HEADERS,
    WALLETGATE_EXACT,
    WALLETGATE_PREFIXES,
    BodyRoute,
)
from gateway.upstream.forwarder import request_headers
from gateway.upstream.header_policy import CREDENTIALS as CREDENTIAL_NAMES
from gateway.upstream.header_policy import NAMED, SET_HEADERS
from tests.conftest import make_settings
from tests.support.ingress_support import binary, private_nginx_paths

CREDENTIALS = frozenset(h.lower() for h in CREDENTIAL_NAMES)

EXTRA_ROUTE = RouteSettings(
    "POST", "/api/v1/orders/{uuid}/amend", owner="body", order_signature=True
)


def plan(extra: bool = False):
    routes = RouteTable((*DEFAULT_ROUTES, EXTRA_ROUTE) if extra else DEFAULT_ROUTES)
    return build_plan("127.0.0.1:8088", "http://10.0.0.5:8000", "http://walletgate:8080", routes)


def traefik_documents(extra: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    static, dynamic = yaml.safe_load_all(RENDERERS["traefik"](plan(extra)))
    return static, dynamic


def test_credential_headers_are_the_header_policys_credentials():
    assert {h.lower() for h in CREDENTIAL_HEADERS} == CREDENTIALS


def test_every_path_walletgate_serves_itself_is_routed_to_it(tmp_path: Path):
    """Key management, documents (and the portal when present): never guarded, never lost."""
    app = build_app(make_settings(tmp_path))
    served = {r.canonical for r in app.router.resources()}
    own = {p for p in served if not p.startswith("/_walletgate") and p != "/{tail}"}
    assert own, served
    for path in own:
        assert path in WALLETGATE_EXACT or path.startswith(WALLETGATE_PREFIXES), path


def test_body_route_templates_become_anchored_single_segment_patterns():
    route = BodyRoute("POST", "/api/v1/orders/{uuid}/amend")
    assert not route.is_static
    pattern = re.compile(route.regex)
    assert pattern.match("/api/v1/orders/abc-1/amend")
    assert not pattern.match("/api/v1/orders/a/b/amend")
    assert not pattern.match("/x/api/v1/orders/a/amend")
    assert BodyRoute("POST", "/api/v1/orders/new").is_static


def test_traefik_routers_reference_existing_parts():
    static, dynamic = traefik_documents(extra=True)
    assert static["entryPoints"]["web"]["address"] == "127.0.0.1:8088"
    http = dynamic["http"]
    for name, router in http["routers"].items():
        assert set(router["entryPoints"]) <= set(static["entryPoints"]), name
        assert router["service"] in http["services"], name
        assert set(router["middlewares"]) <= set(http["middlewares"]), name
    walletgate, exchange = http["routers"]["walletgate"], http["routers"]["exchange"]
    assert walletgate["priority"] > exchange["priority"]
    assert exchange["middlewares"][:2] == ["walletgate-no-decision-headers", "walletgate-decision"]
    stripped = http["middlewares"]["walletgate-no-decision-headers"]["headers"]
    assert set(stripped["customRequestHeaders"]) == set(DECISION_HEADERS)
    assert set(stripped["customRequestHeaders"].values()) == {""}
    servers = {n: s["loadBalancer"]["servers"][0]["url"] for n, s in http["services"].items()}
    assert servers == {"walletgate": "http://walletgate:8080", "exchange": "http://10.0.0.5:8000"}


def test_traefik_decision_and_header_hygiene():
    _, dynamic = traefik_documents(extra=True)
    middlewares = dynamic["http"]["middlewares"]
    auth = middlewares["walletgate-decision"]["forwardAuth"]
    assert auth["address"] == "http://walletgate:8080/_walletgate/auth"
    assert auth["trustForwardHeader"] is False
    assert set(IDENTITY_HEADERS) <= set(auth["authResponseHeaders"])
    removed = middlewares["walletgate-no-credentials"]["headers"]["customRequestHeaders"]
    assert {h.lower() for h, v in removed.items() if v == ""} == CREDENTIALS
    rule = dynamic["http"]["routers"]["walletgate"]["rule"]
    for path in WALLETGATE_EXACT:
        assert f"Path(`{path}`)" in rule
    for prefix in WALLETGATE_PREFIXES:
        assert f"PathPrefix(`{prefix}`)" in rule
    assert "(Method(`POST`) && Path(`/api/v1/orders/new`))" in rule
    assert "(Method(`POST`) && PathRegexp(`^/api/v1/orders/[^/]+/amend$`))" in rule


def envoy_bootstrap(extra: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(RENDERERS["envoy"](plan(extra)))
    return document


def _manager(bootstrap: dict[str, Any]) -> dict[str, Any]:
    (listener,) = bootstrap["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (network_filter,) = chain["filters"]
    assert network_filter["name"] == "envoy.filters.network.http_connection_manager"
    manager: dict[str, Any] = network_filter["typed_config"]
    return manager


def test_envoy_routes_and_filters_reference_existing_parts():
    bootstrap = envoy_bootstrap(extra=True)
    clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
    assert set(clusters) == {"walletgate", "exchange"}
    for name, cluster in clusters.items():
        assert cluster["load_assignment"]["cluster_name"] == name
    manager = _manager(bootstrap)
    filters = [f["name"] for f in manager["http_filters"]]
    assert filters == ["envoy.filters.http.ext_authz", "envoy.filters.http.router"]
    (host,) = manager["route_config"]["virtual_hosts"]
    for route in host["routes"]:
        assert route["route"]["cluster"] in clusters
        for filter_name in route.get("typed_per_filter_config", {}):
            assert filter_name in filters
    for typed in _typed_configs(bootstrap):
        assert typed.startswith("type.googleapis.com/envoy."), typed
    authz = manager["http_filters"][0]["typed_config"]["http_service"]
    assert authz["server_uri"]["cluster"] in clusters
    assert authz["path_prefix"] == EXT_AUTHZ_PREFIX


def _typed_configs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["@type"]] if "@type" in node else []
        return found + [t for value in node.values() for t in _typed_configs(value)]
    if isinstance(node, list):
        return [t for item in node for t in _typed_configs(item)]
    return []


def test_envoy_guards_everything_but_walletgates_own_paths():
    manager = _manager(envoy_bootstrap(extra=True))
    (host,) = manager["route_config"]["virtual_hosts"]
    *own, guarded = host["routes"]
    assert guarded["match"] == {"prefix": "/"}
    assert guarded["route"]["cluster"] == "exchange"
    assert "typed_per_filter_config" not in guarded
    assert set(guarded["request_headers_to_remove"]) == CREDENTIALS
    for route in own:
        assert route["route"]["cluster"] == "walletgate"
        per_route = route["typed_per_filter_config"]["envoy.filters.http.ext_authz"]
        assert per_route["disabled"] is True
    matches = [r["match"] for r in own]
    assert {m.get("path") for m in matches} >= {*WALLETGATE_EXACT, "/api/v1/orders/new"}
    assert {m.get("prefix") for m in matches} >= set(WALLETGATE_PREFIXES)
    amend = [m for m in matches if "safe_regex" in m]
    assert amend == [
        {
            "safe_regex": {"regex": "/api/v1/orders/[^/]+/amend"},
            "headers": [{"name": ":method", "string_match": {"exact": "POST"}}],
        }
    ]
    authz = manager["http_filters"][0]["typed_config"]["http_service"]
    patterns = authz["authorization_request"]["allowed_headers"]["patterns"]
    sent = {p.get("exact") for p in patterns}
    assert sent >= CREDENTIALS and "x-forwarded-for" in sent
    upstream = authz["authorization_response"]["allowed_upstream_headers"]["patterns"]
    assert {h.lower() for h in IDENTITY_HEADERS} <= {p["exact"] for p in upstream}
    (early,) = manager["early_header_mutation_extensions"]
    stripped = {m["remove"] for m in early["typed_config"]["mutations"]}
    assert {h.lower() for h in IDENTITY_HEADERS} <= stripped


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_cli_prints_the_configuration(kind: str):
    argv = ["ingress", kind, "--listen", "127.0.0.1:8088"]
    argv += ["--upstream", "http://10.0.0.5:8000", "--walletgate", "http://walletgate:8080"]
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == RENDERERS[kind](plan())
    assert "10.0.0.5" in done.stdout and "walletgate" in done.stdout


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--listen", "nohost"), ("--upstream", "ftp://x"), ("--walletgate", "http://w:1/path")],
)
def test_cli_refuses_bad_addresses_in_one_line(flag: str, value: str):
    argv = {"--listen": "127.0.0.1:8088", "--upstream": "http://u:1", "--walletgate": "http://w:2"}
    argv[flag] = value
    flat = [item for pair in argv.items() for item in pair]
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "ingress", "nginx", *flat],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert flag in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


@pytest.mark.parametrize("kind", ["nginx", "caddy"])
def test_real_binaries_accept_configurations_with_templated_body_routes(kind, tmp_path: Path):
    """The regex forms (a `{uuid}` body route) parse in the real nginx and Caddy."""
    # Addresses, not names: nginx resolves upstream names when it loads.
    routes = RouteTable((*DEFAULT_ROUTES, EXTRA_ROUTE))
    text = RENDERERS[kind](
        build_plan("127.0.0.1:8088", "http://127.0.0.1:8000", "http://127.0.0.1:8080", routes)
    )
    assert "/amend" in text
    if kind == "nginx":
        command = nginx_test_command(binary("nginx"), text, tmp_path)
    else:
        config = tmp_path / "Caddyfile"
        config.write_text(text, encoding="utf-8")
        command = [binary("caddy"), "validate", "--config", str(config), "--adapter", "caddyfile"]
    environ = os.environ | {"XDG_CONFIG_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environ)
    assert done.returncode == 0, done.stdout + done.stderr


def nginx_test_command(nginx: str, text: str, root: Path) -> list[str]:
    config = root / "nginx.conf"
    config.write_text(private_nginx_paths(text, root), encoding="utf-8")
    main = f"pid {root / 'nginx.pid'};"
    return [nginx, "-t", "-q", "-p", str(root), "-c", str(config), "-e", "stderr", "-g", main]


ENVOY_CLIENT_HEADERS = (
    *NAMED,  # every name the header policy lists, X-Request-ID included
    "X-Gateway_Wallet",
    "X_Gateway_Key_Id",
    "X-Forwarded_For",
    "X-HTTP-Method_Override",
    "X-Original_URL",
    "Accept",
    "X-Custom-Trace",
)


def test_envoy_passes_upstream_the_header_set_proxy_mode_passes():
    """Read structurally (no Envoy here): underscore names dropped by the connection
    manager, the early mutation, the route's removals, then what Envoy and the
    decision set; compared with proxy mode's forwarder on the same client headers."""
    manager = _manager(envoy_bootstrap())
    protocol = manager["common_http_protocol_options"]
    assert protocol["headers_with_underscores_action"] == "DROP_HEADER"
    (early,) = manager["early_header_mutation_extensions"]
    removed_early = {m["remove"] for m in early["typed_config"]["mutations"]}
    (host,) = manager["route_config"]["virtual_hosts"]
    removed_on_route = set(host["routes"][-1]["request_headers_to_remove"])
    authz = manager["http_filters"][0]["typed_config"]["http_service"]
    from_decision = authz["authorization_response"]["allowed_upstream_headers"]["patterns"]
    set_by_envoy = {"x-forwarded-for", "x-forwarded-proto", "x-request-id"}
    by_envoy = {
        name.lower()
        for name in ENVOY_CLIENT_HEADERS
        if "_" not in name and name.lower() not in removed_early | removed_on_route
    }
    by_envoy |= set_by_envoy | {p["exact"] for p in from_decision}
    client = CIMultiDictProxy(CIMultiDict((name, "v") for name in ENVOY_CLIENT_HEADERS))
    walletgate_sets = [(name, "v") for name in SET_HEADERS]
    by_proxy = {name.lower() for name, _ in request_headers(client, walletgate_sets)}
    assert by_envoy == by_proxy
    # Names under a stripped prefix that Envoy cannot remove reach the decision,
    # which refuses them (tests/e2e/test_auth_mode.py).
    asked = authz["authorization_request"]["allowed_headers"]["patterns"]
    assert {p.get("prefix") for p in asked} >= {"x-gateway-", "x-forwarded-"}
    router = manager["http_filters"][-1]["typed_config"]
    assert router["suppress_envoy_headers"] is True
