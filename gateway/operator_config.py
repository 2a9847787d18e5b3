"""`[tiers.NAME]` tables and `[[admin.tokens]]` entries: the operator's settings.

Parsed here, apart from `gateway.config` (which calls these), so the general
loader stays about sections and keys. Both are checked once: a bad value raises
`OperatorConfigError` whose text names the key, as every configuration error does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

TIERS_SECTION: Final = "tiers"
_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


class OperatorConfigError(ValueError):
    """A tier or operator-token value is wrong; the message names the key."""


class TokenScope(StrEnum):
    """What an operator token may do: read everything, or also change it."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class TierSettings:
    """One `[tiers.NAME]` table: the ceilings of a wallet placed in the tier."""

    name: str
    per_minute: int
    per_hour: int
    per_day: int


@dataclass(frozen=True, slots=True)
class OperatorTokenSettings:
    """One `[[admin.tokens]]` entry: a token kept only as its SHA-256."""

    sha256: str
    name: str
    scope: str = TokenScope.READ.value


def valid_name(text: str) -> bool:
    """Tier and operator names: short, printable, no spaces (they appear in logs)."""
    return _NAME.fullmatch(text) is not None


def parse_tiers(raw: Any) -> tuple[TierSettings, ...]:
    """`{"NAME": {"per_minute": N, ...}}` (TOML tables, or JSON from the environment)."""
    if isinstance(raw, str):
        raw = _json(TIERS_SECTION, raw)
    if not isinstance(raw, Mapping):
        raise OperatorConfigError("tiers: expected [tiers.NAME] tables")
    tiers = []
    for name, table in raw.items():
        where = f"tiers.{name}"
        if not valid_name(name):
            raise OperatorConfigError(f"{where}: a tier name is 1-64 of A-Z a-z 0-9 _ . -")
        if not isinstance(table, Mapping):
            raise OperatorConfigError(f"{where}: expected a table")
        values: dict[str, int] = {}
        for key, value in table.items():
            if key not in ("per_minute", "per_hour", "per_day"):
                raise OperatorConfigError(f"{where}.{key}: unknown key")
            if type(value) is not int or value <= 0:
                raise OperatorConfigError(f"{where}.{key}: expected a whole number above 0")
            values[key] = value
        missing = [k for k in ("per_minute", "per_hour", "per_day") if k not in values]
        if missing:
            raise OperatorConfigError(f"{where}.{missing[0]}: required")
        tiers.append(TierSettings(name=name, **values))
    return tuple(tiers)


def parse_tokens(key: str, raw: Any) -> tuple[OperatorTokenSettings, ...]:
    """`[[admin.tokens]]` entries (a list of tables, or JSON from the environment)."""
    if isinstance(raw, str):
        raw = _json(key, raw)
    if not isinstance(raw, list):
        raise OperatorConfigError(f"{key}: expected a list of tables")
    tokens = []
    for i, entry in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(entry, Mapping):
            raise OperatorConfigError(f"{where}: expected a table")
        unknown = set(entry) - {"sha256", "name", "scope"}
        if unknown:
            raise OperatorConfigError(f"{where}.{sorted(unknown)[0]}: unknown key")
        digest, name = entry.get("sha256"), entry.get("name")
        scope = entry.get("scope", TokenScope.READ.value)
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest.lower()):
            raise OperatorConfigError(f"{where}.sha256: expected 64 hex digits")
        if not isinstance(name, str) or not valid_name(name):
            raise OperatorConfigError(f"{where}.name: 1-64 of A-Z a-z 0-9 _ . -")
        if scope not in {s.value for s in TokenScope}:
            raise OperatorConfigError(f'{where}.scope: expected "read" or "write"')
        tokens.append(OperatorTokenSettings(sha256=digest.lower(), name=name, scope=scope))
    _check_unique(key, tokens)
    return tuple(tokens)


def _check_unique(key: str, tokens: list[OperatorTokenSettings]) -> None:
    # One hash naming two operators would make the audit trail's actor a guess.
    seen: set[str] = set()
    for i, token in enumerate(tokens):
        if token.sha256 in seen:
            raise OperatorConfigError(f"{key}[{i}].sha256: the same token is listed twice")
        seen.add(token.sha256)


def tier_table(tiers: tuple[TierSettings, ...]) -> dict[str, dict[str, int]]:
    """The tiers as `config check` prints them, keyed by name."""
    return {
        t.name: {"per_minute": t.per_minute, "per_hour": t.per_hour, "per_day": t.per_day}
        for t in tiers
    }


def _json(key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise OperatorConfigError(f"{key}: expected JSON") from None
