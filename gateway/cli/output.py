"""Lines the CLI writes itself, outside the logging queue: banners on stdout,
start-up errors and warnings on stderr.

In text format they are the plain sentences scripts and people have always
read (`walletgate gateway listening on http://…`). With `log.format = "json"`
each is one JSON object like every log line (`ts`, `level`, `event`, fields),
whose `message` keeps the same sentence, so a log shipper never meets a line
it cannot parse. Apart from `serve` and `workers`, which both print, so
neither imports the other for it.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(format_name: str, level: str, event: str, message: str, **fields: Any) -> str:
    if format_name != "json":
        return message
    line = {"ts": now(), "level": level, "event": event, **fields, "message": message}
    return json.dumps(line, default=str, ensure_ascii=False)


def _write(stream: TextIO, line: str) -> None:
    # One write per line: the log thread writes to the same terminal, and must
    # never land in the middle of a line a script reads.
    stream.write(line + "\n")
    stream.flush()


def say(line: str, format_name: str = "text", event: str = "banner", **fields: Any) -> None:
    """A banner line on stdout."""
    _write(sys.stdout, render(format_name, "info", event, line, **fields))


def complain(
    line: str, format_name: str = "text", level: str = "error", event: str = "error", **fields: Any
) -> None:
    """A start-up error or warning on stderr, prefixed `walletgate: ` in text."""
    _write(sys.stderr, render(format_name, level, event, f"walletgate: {line}", **fields))
