"""The load benchmark's section of bench/RESULTS.md: a table per figure.

Only this benchmark's section ("## Load") is replaced; every other section
(e.g. "## Signature verification", written by bench/signatures.py) is kept.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SECTION = "## Load"
# `--only` runs write sections of their own, so a full run and e.g. a 10-minute soak coexist.
PARTIAL_SECTIONS = {"throughput": "## Load, figures 1-6 only", "memory": "## Load, figure 7 only"}


def section_title(only: str) -> str:
    return PARTIAL_SECTIONS.get(only, SECTION)


@dataclass(frozen=True, slots=True)
class Figure:
    number: int
    title: str
    method: str  # how it was measured, one sentence
    measured: str
    reference: str
    ratio: float | None
    target: str
    passed: bool | None  # None: reported only, no target
    runs: str  # every repeat, so the spread is visible
    notes: str = ""

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "reported"
        return "pass" if self.passed else "**FAIL**"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def per_s(value: float) -> str:
    return f"{value:,.0f} req/s"


def ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _first_line(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def machine(pinning: str, settings: str) -> list[str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: nproc {usable}, CPU {cpu_model()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- tools: {_first_line(['wrk', '-v'])}; {_first_line(['nginx', '-v'])}",
        f"- pinning: {pinning}",
        "- load average (1/5/15 min) when the section was written: "
        + " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        f"- {settings}",
    ]


def render(
    figures: Sequence[Figure],
    header: Sequence[str],
    title: str = SECTION,
    command: str = "python bench/load.py",
) -> str:
    lines = [
        title,
        "",
        f"`{command}` (see bench/README.md). Every ratio is against a reference",
        "measured in the same run; each figure is the median of its repeats.",
        "",
        *header,
        "",
        "| # | figure | measured | reference | ratio | target | result |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for f in figures:
        lines.append(
            f"| {f.number} | {f.title} | {f.measured} | {f.reference} | {ratio_text(f.ratio)} "
            f"| {f.target} | {f.verdict} |"
        )
    for f in figures:
        lines += [
            "",
            f"### {f.number}. {f.title}",
            "",
            f.method,
            "",
            "| measured | reference | ratio | target | result |",
            "| ---: | ---: | ---: | --- | --- |",
            f"| {f.measured} | {f.reference} | {ratio_text(f.ratio)} | {f.target} | {f.verdict} |",
            "",
            f"Runs: {f.runs}",
        ]
        if f.notes:
            lines += ["", f.notes]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the section titled like `section`'s first line, keeping every other section."""
    title = section.partition("\n")[0]
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        title, _, rest = text.partition("\n")
        text = f"{title}\n\n{section}\n{rest.lstrip(chr(10))}"
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
