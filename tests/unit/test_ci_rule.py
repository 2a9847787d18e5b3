"""Skip locally, fail in CI: `.ci/run` says it is CI, and the helpers listen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.ci import in_ci, missing

RUN = Path(__file__).resolve().parents[2] / ".ci" / "run"


def test_ci_run_exports_ci_true_before_it_runs_anything() -> None:
    lines = RUN.read_text(encoding="utf-8").splitlines()
    commands = [n for n, line in enumerate(lines) if line.strip() and not line.startswith("#")]
    exported = [n for n, line in enumerate(lines) if re.fullmatch(r"export CI=true", line)]
    assert exported, ".ci/run must export CI=true"
    tests_run = next(n for n, line in enumerate(lines) if "pytest" in line)
    # After `set -euo pipefail` and `cd` at most: before services, installs and tests.
    assert exported[0] <= commands[2] < tests_run


@pytest.mark.parametrize(
    ("value", "ci"),
    [("true", True), ("1", True), ("TRUE", True), ("", False), ("false", False), ("0", False)],
)
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str, ci: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is ci


def test_a_missing_tool_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        missing("no such tool")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        missing("no such tool")
