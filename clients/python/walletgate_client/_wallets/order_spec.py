"""What an order-signature scheme says, before it is compiled.

The same record comes from the operator's TOML (`[order_schemes.NAME]`) and
from the published document (`GET /api/v1/order-schemes/{name}`), so the
gateway that verifies and the client that signs compile one description.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})

# A route's `order_signature = true` means this built-in scheme.
CANONICAL_JSON = "canonical_json"


class SchemeError(ValueError):
    """A scheme spec that cannot be used; `key` is relative to its `[order_schemes.NAME]`."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class SchemeKind(StrEnum):
    CANONICAL_JSON = "canonical_json"
    SIP018 = "sip018"
    EIP712 = "eip712"


@dataclass(frozen=True, slots=True)
class MessageEntry:
    """One SIP-018 tuple key: its Clarity type and a body field or a constant."""

    key: str
    type: str
    field: str | None = None
    const: Any = None
    has_const: bool = False


@dataclass(frozen=True, slots=True)
class SchemeSpec:
    name: str
    kind: SchemeKind
    domain: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    unsigned: tuple[str, ...] = ()
    # SIP-018: the message tuple.
    message: tuple[MessageEntry, ...] = ()
    # SIP-018: accept only the compressed key's address (Clarity's secp256k1-recover?).
    onchain: bool = False
    # EIP-712: the primary type, the struct declarations, member -> body field
    # where the names differ, member -> constant.
    primary_type: str = ""
    types: Mapping[str, tuple[Mapping[str, str], ...]] = field(default_factory=lambda: _EMPTY)
    fields: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    constants: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


CANONICAL_JSON_SPEC = SchemeSpec(CANONICAL_JSON, SchemeKind.CANONICAL_JSON)


def spec_from_document(document: Mapping[str, Any]) -> SchemeSpec:
    """The spec a published scheme document describes (what clients sign with)."""
    kind = SchemeKind(document["kind"])
    name = str(document["name"])
    unsigned = tuple(document.get("unsigned", ()))
    if kind == SchemeKind.CANONICAL_JSON:
        return SchemeSpec(name, kind, unsigned=unsigned)
    domain = MappingProxyType(dict(document["domain"]))
    if kind == SchemeKind.SIP018:
        entries = tuple(
            MessageEntry(
                key=item["key"],
                type=item["type"],
                field=item.get("field"),
                const=item.get("const"),
                has_const="const" in item,
            )
            for item in document["message"]
        )
        return SchemeSpec(
            name, kind, domain, unsigned, entries, onchain=bool(document.get("onchain", False))
        )
    types = {
        type_name: tuple(MappingProxyType(dict(m)) for m in members)
        for type_name, members in document["types"].items()
        if type_name != "EIP712Domain"
    }
    return SchemeSpec(
        name,
        kind,
        domain,
        unsigned,
        primary_type=str(document["primaryType"]),
        types=MappingProxyType(types),
        fields=MappingProxyType(dict(document.get("fields", {}))),
        constants=MappingProxyType(dict(document.get("constants", {}))),
    )


def spec_table(spec: SchemeSpec) -> dict[str, Any]:
    """A spec as plain data, as configured (for `config check`)."""
    table: dict[str, Any] = {"kind": spec.kind.value}
    if spec.kind == SchemeKind.CANONICAL_JSON:
        return table
    table |= {"domain": dict(spec.domain), "unsigned": list(spec.unsigned)}
    if spec.kind == SchemeKind.SIP018:
        table["message"] = {
            e.key: {"type": e.type}
            | ({"field": e.field} if e.field is not None else {})
            | ({"const": e.const} if e.has_const else {})
            for e in spec.message
        }
        table["onchain"] = spec.onchain
        return table
    return table | {
        "primary_type": spec.primary_type,
        "types": {name: [dict(m) for m in members] for name, members in spec.types.items()},
        "fields": dict(spec.fields),
        "constants": dict(spec.constants),
    }
