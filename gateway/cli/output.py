"""What the serving commands print on stdout, a line at a time.

Apart from `serve` and `workers`, which both print, so neither imports the other for it.
"""

from __future__ import annotations

import sys


def say(line: str) -> None:
    """One line on stdout in a single write: the log thread writes to the same
    terminal, and must never land in the middle of a line a script reads."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
