"""The shipped Prometheus rules: valid (`promtool check rules`), their unit tests
pass (`promtool test rules`), every alert has a summary and a runbook section
that exists in docs/operations.md, and they read only metrics walletgate exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.metrics import Metrics
from tests.support.prometheus_support import RULES, binary

ROOT = Path(__file__).resolve().parents[2]
TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
OPERATIONS = ROOT / "docs" / "operations.md"
# A metric name, not part of a recorded rule's name (`job:walletgate_…:ratio_rate5m`).
METRIC = re.compile(r"(?<![:\w])(walletgate_\w+)\b(?!:)")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def test_rules_pass_promtool_check():
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_pass_under_promtool():
    assert TESTS
    done = promtool("test", "rules", *map(str, TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_test_fails_when_an_alert_is_broken(tmp_path: Path):
    """The unit tests can fail: with one threshold loosened, they do."""
    broken_rules = tmp_path / "rules" / "walletgate.rules.yml"
    broken_rules.parent.mkdir()
    text = RULES.read_text(encoding="utf-8")
    broken_rules.write_text(text.replace("ratio_rate5m > 0.05", "ratio_rate5m > 0.5"))
    tests = tmp_path / "tests"
    tests.mkdir()
    for test in TESTS:
        (tests / test.name).write_text(test.read_text(encoding="utf-8"), encoding="utf-8")
    done = promtool("test", "rules", *(str(tests / t.name) for t in TESTS))
    assert done.returncode != 0
    assert "WalletgateHigh5xxRatio" in done.stdout + done.stderr


@pytest.mark.parametrize("config", ["config/prometheus.yml", "deploy/prometheus.yml"])
def test_prometheus_configurations_load_the_rules(config: str):
    loaded = yaml.safe_load((ROOT / config).read_text(encoding="utf-8"))
    assert loaded["rule_files"]
    done = promtool("check", "config", config)
    assert done.returncode == 0, done.stdout + done.stderr
    if config.startswith("config/"):
        # Relative to the file: promtool reads the rules through it.
        assert f"SUCCESS: {len(rules())} rules found" in done.stdout, done.stdout
    else:
        # The compose file mounts deploy/prometheus/rules where this file looks.
        (pattern,) = loaded["rule_files"]
        assert pattern == "/etc/prometheus/rules/*.yml"
        compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
        mounts = compose["services"]["prometheus"]["volumes"]
        assert "./prometheus/rules:/etc/prometheus/rules:ro" in mounts


REQUIRED = {
    "WalletgateDown",
    "WalletgateNotReady",
    "WalletgateHigh5xxRatio",
    "WalletgateUpstreamErrors",
    "WalletgateLatencyBudgetBurn",
    "WalletgateStoreDown",
    "WalletgateRateLimiterDown",
    "WalletgateAuthFailureSpike",
    "WalletgateRateLimitSpike",
    "WalletgateSignatureFailures",
}


def test_every_alert_has_a_summary_and_a_runbook_section_in_the_docs():
    names = {alert["alert"] for alert in alerts()}
    assert names >= REQUIRED
    headings = {
        "#" + re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    for alert in alerts():
        annotations = alert["annotations"]
        assert annotations["summary"], alert["alert"]
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/operations.md", alert["alert"]
        assert "#" + anchor in headings, (alert["alert"], anchor)
        assert alert["labels"]["severity"] in ("page", "ticket"), alert["alert"]


def test_rules_read_only_metrics_walletgate_exports():
    exported = set()
    for metric in Metrics().registry.collect():
        exported.add(metric.name)
        exported |= {sample.name for sample in metric.samples}
    # Histograms and labelled counters without observations have no samples yet.
    exported |= {f"{name}_total" for name in exported}
    for suffix in ("_bucket", "_count", "_sum"):
        exported |= {f"walletgate_request_duration_seconds{suffix}"}
    for rule in rules():
        for name in METRIC.findall(rule["expr"]):
            assert name in exported, (rule.get("alert") or rule.get("record"), name)
