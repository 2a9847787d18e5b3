"""Reading the gateway's stdout banners in either log format.

In text format a banner is the sentence itself; with `log.format = "json"`
it is a JSON object whose `message` is that sentence.
"""

from __future__ import annotations

import json


def banner_text(line: str) -> str:
    """The sentence of one stdout line, whatever the format."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError:
            return stripped
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])
    return stripped
