"""A small YAML writer for generated configurations (block style, quoted strings).

Enough for nested mappings, lists and scalars; strings are written as JSON
strings, which YAML reads unchanged, so no value can change its meaning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


def _lines(value: Any, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(value, Mapping):
        out: list[str] = []
        for key, item in value.items():
            name = _scalar(key) if key.startswith("@") or ":" in key else key
            if _is_block(item):
                out.append(f"{pad}{name}:")
                out += _lines(item, indent + 1)
            else:
                out.append(f"{pad}{name}: {_inline(item)}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, str):
        out = []
        for item in value:
            if _is_block(item):
                nested = _lines(item, indent + 1)
                out.append(f"{pad}- {nested[0].lstrip()}")
                out += nested[1:]
            else:
                out.append(f"{pad}- {_inline(item)}")
        return out
    return [pad + _scalar(value)]


def _is_block(value: Any) -> bool:
    return bool(value) and isinstance(value, Mapping | list | tuple)


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return _scalar(value)


def dump(value: Any) -> str:
    return "\n".join(_lines(value, 0)) + "\n"
