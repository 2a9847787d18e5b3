"""Every code block of README.md, docs/*.md and clients/*/README.md runs as written (§17).

Shell blocks run through bash (`set -eo pipefail`) with the CLI and curl on
PATH, Python blocks as files with this virtualenv's python, JavaScript blocks
with node, `toml` blocks through the configuration loader and its checks. A
block that cannot run as pasted carries `*Not run by the tests: <reason>.*`
directly above its fence. A block neither run nor marked fails, and so does
a run block that exits non-zero. How blocks reach the gateway: tests/docs/runner.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT, Block, Kind, blocks_of, documents
from tests.docs.runner import RUNNERS, Outcome, clone_into, rewrite, start_server

TYPESCRIPT_BUILT = (ROOT / "clients" / "typescript" / "package.json").is_file()
TYPESCRIPT_DIST = ROOT / "clients" / "typescript" / "dist" / "index.js"
IN_CI = os.environ.get("CI") == "true"


def runnable(block: Block) -> bool:
    return block.excused is None and block.kind in RUNNERS


def test_every_block_is_run_or_marked():
    unmarked = [
        f"{b.where} ({b.info or 'no language'})"
        for path in documents()
        for b in blocks_of(path)
        if b.excused is None and b.kind not in RUNNERS
    ]
    assert not unmarked, (
        "blocks neither run nor marked with '*Not run by the tests: <reason>.*' above "
        "their fence:\n" + "\n".join(unmarked)
    )


def test_marker_needs_a_reason():
    from tests.docs.blocks import MARKER

    assert MARKER.match("*Not run by the tests: a wallet popup.*")
    assert not MARKER.match("*Not run by the tests.*")
    assert not MARKER.match("Not run by the tests: a wallet popup.")


@pytest.mark.parametrize(
    "document",
    [p for p in documents() if any(map(runnable, blocks_of(p)))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_blocks_of_the_document_run(document: Path, tmp_path: Path) -> None:
    blocks = [b for b in blocks_of(document) if runnable(b)]
    if not TYPESCRIPT_BUILT and not IN_CI:
        blocks = [b for b in blocks if b.kind != Kind.JAVASCRIPT]
    elif any(b.kind == Kind.JAVASCRIPT for b in blocks):
        assert shutil.which("node"), "JavaScript blocks need node"
        assert TYPESCRIPT_DIST.is_file(), (
            "JavaScript blocks import the built client: "
            "(cd clients/typescript && npm ci && npm run build)"
        )
    work = tmp_path / "clone"
    work.mkdir()
    clone_into(work)
    gateway = start_server(["walletgate", "run"], work, expect=3)
    try:
        assert len(gateway.urls) == 3, "".join(gateway.output)
        outcomes = [RUNNERS[b.kind](b, rewrite(b.text, gateway.urls), work) for b in blocks]
    finally:
        gateway.stop()
    failed = [o for o in outcomes if not o.ok]
    assert not failed, "\n\n".join(_report(o) for o in failed)


def _report(outcome: Outcome) -> str:
    return f"{outcome.block.where} ({outcome.block.info}): {outcome.detail}"


def test_runner_fails_a_failing_block_and_sees_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\nfalse\necho never\n```\n\n"
        "*Not run by the tests: sample output.*\n\n```json\n{}\n```\n\n"
        "```json\n{}\n```\n\n```python\nraise SystemExit(3)\n```\n\n"
        "```toml\n[listen]\nport = -1\n```\n",
        encoding="utf-8",
    )
    shell, marked, unmarked, python, toml = blocks_of(page)
    assert marked.excused == "sample output"
    assert unmarked.excused is None and unmarked.kind not in RUNNERS
    for block in (shell, python, toml):
        outcome = RUNNERS[block.kind](block, block.text, tmp_path)
        assert not outcome.ok, block
