"""`[order_schemes.NAME]` tables and the routes that name them.

Parsed into `SchemeSpec`s (the record clients rebuild from the published
document). Compiling them and checking them against the routes needs the
encoders, so it lives in `gateway.wallets.order_checks`, one wing up; every
`unsigned` field is named in a warning here (anyone who re-posts a public
signed order may change it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Protocol

from gateway.order_spec import (
    CANONICAL_JSON,
    MessageEntry,
    SchemeError,
    SchemeKind,
    SchemeSpec,
)


class _Route(Protocol):
    """What `route_order_fields` reads of a `[[routes]]` entry (gateway.config sits above)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def order_fields(self) -> tuple[str, ...]: ...


class _Schemes(Protocol):
    """What `unsigned_warnings` reads of the settings."""

    @property
    def order_schemes(self) -> tuple[SchemeSpec, ...]: ...


SECTION = "order_schemes"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
ORDERS_NEW = ("POST", "/api/v1/orders/new")
# The bundled backend's order fields (`signature` and `publicKey` are never signed fields).
DEFAULT_ORDER_FIELDS = (
    "owner",
    "inputToken",
    "outputToken",
    "amountIn",
    "targetPrice",
    "direction",
    "conditionToken",
    "recipient",
    "uuid",
    "validFrom",
    "validTo",
)


class table(dict[str, Any]):
    """A TOML table (the reference prints the class name as the type)."""


@dataclass(frozen=True, slots=True)
class OrderSchemeTable:
    """The keys of one `[order_schemes.NAME]` table (documentation and key check)."""

    kind: str = ""
    domain: table = field(default_factory=table)
    unsigned: tuple[str, ...] = ()
    message: table = field(default_factory=table)
    onchain: bool = False
    primary_type: str = ""
    types: table = field(default_factory=table)
    fields: table = field(default_factory=table)
    constants: table = field(default_factory=table)


_KEYS = {f.name for f in fields(OrderSchemeTable)}
_KIND_KEYS = {
    SchemeKind.CANONICAL_JSON: {"kind"},
    SchemeKind.SIP018: {"kind", "domain", "unsigned", "message", "onchain"},
    SchemeKind.EIP712: {
        "kind",
        "domain",
        "unsigned",
        "primary_type",
        "types",
        "fields",
        "constants",
    },
}


class SchemeConfigErrors(ValueError):
    """Every mistake found, one line each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def parse_order_schemes(raw: Any) -> tuple[SchemeSpec, ...]:
    """`[order_schemes.*]` as specs; raises SchemeConfigErrors listing every bad key."""
    if not isinstance(raw, Mapping):
        raise SchemeConfigErrors([f"{SECTION}: expected a table of schemes"])
    specs, problems = [], []
    for name, table in raw.items():
        try:
            specs.append(_parse_one(name, table))
        except SchemeError as exc:
            problems.append(f"{SECTION}.{name}.{exc.key}: {exc.reason}")
    if problems:
        raise SchemeConfigErrors(problems)
    return tuple(specs)


def _parse_one(name: str, table: Any) -> SchemeSpec:
    if _NAME.fullmatch(name) is None or name == CANONICAL_JSON:
        raise SchemeError("", "names are 1-64 of A-Z a-z 0-9 _ - (canonical_json is built in)")
    if not isinstance(table, Mapping):
        raise SchemeError("", "expected a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise SchemeError(unknown[0], "unknown key")
    try:
        kind = SchemeKind(str(table.get("kind")))
    except ValueError:
        raise SchemeError("kind", 'expected "canonical_json", "sip018" or "eip712"') from None
    misplaced = sorted(set(table) - _KIND_KEYS[kind])
    if misplaced:
        raise SchemeError(misplaced[0], f"not a key of {kind.value} schemes")
    unsigned = table.get("unsigned", [])
    if not isinstance(unsigned, list) or not all(isinstance(u, str) for u in unsigned):
        raise SchemeError("unsigned", "expected a list of field names")
    if kind == SchemeKind.CANONICAL_JSON:
        return SchemeSpec(name, kind)
    domain = _table(table, "domain")
    if kind == SchemeKind.SIP018:
        onchain = table.get("onchain", False)
        if not isinstance(onchain, bool):
            raise SchemeError("onchain", "expected true or false")
        entries = tuple(_entry(key, spec) for key, spec in _table(table, "message").items())
        return SchemeSpec(name, kind, domain, tuple(unsigned), entries, onchain=onchain)
    primary = table.get("primary_type")
    if not isinstance(primary, str) or not primary:
        raise SchemeError("primary_type", "required: the struct orders are signed as")
    types = _table(table, "types")
    for type_name, members in types.items():
        if not isinstance(members, list):
            raise SchemeError(f"types.{type_name}", "expected a list of { name, type }")
    mapping = _table(table, "fields", required=False)
    if not all(isinstance(v, str) for v in mapping.values()):
        raise SchemeError("fields", "expected member = body field name")
    return SchemeSpec(
        name,
        kind,
        domain,
        tuple(unsigned),
        primary_type=primary,
        types=MappingProxyType({k: tuple(v) for k, v in types.items()}),
        fields=mapping,
        constants=_table(table, "constants", required=False),
    )


def _table(table: Mapping[str, Any], key: str, *, required: bool = True) -> Mapping[str, Any]:
    value = table.get(key)
    if value is None and not required:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or (required and not value):
        raise SchemeError(key, "expected a non-empty table")
    return MappingProxyType(dict(value))


def _entry(key: str, spec: Any) -> MessageEntry:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
        raise SchemeError(f"message.{key}", "expected { type, field } or { type, const }")
    extra = sorted(set(spec) - {"type", "field", "const"})
    if extra:
        raise SchemeError(f"message.{key}.{extra[0]}", "unknown key")
    field = spec.get("field")
    if field is not None and not isinstance(field, str):
        raise SchemeError(f"message.{key}.field", "expected a body field name")
    return MessageEntry(key, spec["type"], field, spec.get("const"), "const" in spec)


def route_scheme(order_signature: bool | str) -> str | None:
    """The scheme a route's `order_signature` names: true = canonical_json; false/"" = none."""
    if order_signature is True:
        return CANONICAL_JSON
    return order_signature or None


def route_order_fields(route: _Route) -> tuple[str, ...] | None:
    if route.order_fields:
        return route.order_fields
    if (route.method.upper(), route.path) == ORDERS_NEW:
        return DEFAULT_ORDER_FIELDS
    return None


def unsigned_warnings(settings: _Schemes) -> list[str]:
    """One line per scheme with `unsigned` fields, naming every one of them."""
    return [
        f"{SECTION}.{spec.name}.unsigned: {', '.join(spec.unsigned)} not signed: anyone who "
        "re-posts a public signed order may change them"
        for spec in settings.order_schemes
        if spec.unsigned
    ]
