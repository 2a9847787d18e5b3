"""Fenced code blocks of the docs, with the marker that excuses one from running.

A block is excused by the line directly above its opening fence (one blank
line between is allowed) reading `*Not run by the tests: <reason>.*`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
MARKER = re.compile(r"^\s*\*Not run by the tests: (?P<reason>.+)\.\*\s*$")


class Kind(StrEnum):
    SHELL = "shell"
    PYTHON = "python"
    JAVASCRIPT = "javascript"
    TOML = "toml"
    OTHER = "other"


KINDS = {
    "sh": Kind.SHELL,
    "bash": Kind.SHELL,
    "shell": Kind.SHELL,
    "python": Kind.PYTHON,
    "py": Kind.PYTHON,
    "js": Kind.JAVASCRIPT,
    "javascript": Kind.JAVASCRIPT,
    "mjs": Kind.JAVASCRIPT,
    "toml": Kind.TOML,
}


@dataclass(frozen=True, slots=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    info: str
    text: str
    excused: str | None  # the marker's reason

    @property
    def kind(self) -> Kind:
        return KINDS.get(self.info.split()[0].lower() if self.info else "", Kind.OTHER)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    """README.md, docs/*.md and every client's README.md."""
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return paths + sorted((ROOT / "clients").glob("*/README.md"))


def _marker_above(lines: list[str], fence_index: int) -> str | None:
    above = fence_index - 1
    if above >= 0 and not lines[above].strip():
        above -= 1
    found = MARKER.match(lines[above]) if above >= 0 else None
    return found["reason"] if found else None


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = lines[end].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            body.append(lines[end].removeprefix(indent))
            end += 1
        text = "\n".join(body) + "\n"
        excused = _marker_above(lines, index)
        found.append(Block(path, index + 1, opening["info"].strip(), text, excused))
        index = end + 1
    return found
