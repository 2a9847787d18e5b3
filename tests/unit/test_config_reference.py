"""The configuration reference is generated from the schema and stays complete."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gateway.config_reference import reference_markdown, schema_keys

REPO = Path(__file__).resolve().parents[2]


def test_every_schema_key_has_a_description() -> None:
    undocumented = [f"{r.section}.{r.key}" for r in schema_keys() if not r.description]
    assert undocumented == []


def test_docs_configuration_is_the_generated_reference() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "run: walletgate config reference > docs/configuration.md"
    )


def test_example_config_mentions_every_key() -> None:
    example = (REPO / "config" / "walletgate.toml").read_text(encoding="utf-8")
    missing = [
        f"{r.section}.{r.key}"
        for r in schema_keys()
        if not re.search(rf"^\s*#?\s*{re.escape(r.key)}\s*=", example, re.MULTILINE)
    ]
    assert missing == []


def test_cli_prints_the_reference() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "config", "reference"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout == reference_markdown()
