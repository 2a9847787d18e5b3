"""The deployment kit, checked without a Docker engine (none is available to the suite).

deploy/compose.yaml is validated against the compose-spec JSON schema that
check-jsonschema ships, then by structure: services, profiles, volumes,
health checks, Prometheus finding every replica, Grafana provisioning the
dashboard, nginx running the configuration `walletgate ingress nginx` prints.
The Dockerfile is linted with hadolint (shipped in a wheel) and its promises
(data volume, default command, exec-form health check) are asserted.
"""

from __future__ import annotations

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
    )
    assert shipped == RENDERERS["nginx"](plan), "regenerate with `walletgate ingress nginx`"


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
