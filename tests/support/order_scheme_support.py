"""Order-scheme vectors (stacks.js 7.6.0, ethers 6.17.0) as specs, bodies and bytes.

`order-signatures.json` writes Clarity values as `{type, value}` trees and
EIP-712 typed data as ethers takes it; these helpers turn both into what the
gateway sees: a scheme spec (as an operator would configure it) and an order
body (decimal strings for integers, `0x` hex for buffers).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.order_spec import MessageEntry, SchemeKind, SchemeSpec
from gateway.wallets import clarity

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "order-signatures.json").read_text()
)
ORDER_ROUTE_FIELDS = (
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
_TYPE_NAMES = {
    "uint": "uint",
    "int": "int",
    "bool": "bool",
    "principal": "principal",
    "ascii": "string-ascii",
    "utf8": "string-utf8",
    "buffer": "buff",
}


def cv(value: dict[str, Any]) -> bytes:
    """The consensus serialization of a vector's Clarity value, by our encoder."""
    kind, inner = value["type"], value.get("value")
    simple = {
        "uint": lambda: clarity.uint(int(inner)),
        "int": lambda: clarity.int_(int(inner)),
        "bool": lambda: clarity.bool_(inner),
        "principal": lambda: clarity.principal(inner),
        "ascii": lambda: clarity.string_ascii(inner),
        "utf8": lambda: clarity.string_utf8(inner),
        "buffer": lambda: clarity.buff(bytes.fromhex(inner)),
        "none": lambda: clarity.NONE,
        "some": lambda: clarity.some(cv(inner)),
        "list": lambda: clarity.list_(cv(item) for item in inner),
        "tuple": lambda: clarity.tuple_({k: cv(v) for k, v in inner.items()}),
    }
    return simple[kind]()


def _type_and_body(value: dict[str, Any]) -> tuple[str, Any]:
    """(order type, body value) of one tuple member of a vector."""
    kind, inner = value["type"], value.get("value")
    if kind == "some":
        inner_type, body = _type_and_body(inner)
        return f"optional {inner_type}", body
    if kind == "list":
        inner_type, _ = _type_and_body(inner[0])
        return f"list {inner_type}", [_type_and_body(item)[1] for item in inner]
    if kind == "buffer":
        return "buff", "0x" + inner
    return _TYPE_NAMES[kind], inner


def sip018_case(vector: dict[str, Any], *, onchain: bool = False) -> tuple[SchemeSpec, dict]:
    """A scheme whose tuple is the vector's message, and the order body that signs as it."""
    domain = {k: v["value"] for k, v in vector["domain"]["value"].items()}
    domain["chain-id"] = int(domain["chain-id"])
    entries, body = [], {}
    for key, value in vector["message"]["value"].items():
        if value["type"] == "none":
            entries.append(MessageEntry(key, "none"))
            continue
        kind, body_value = _type_and_body(value)
        entries.append(MessageEntry(key, kind, field=key))
        body[key] = body_value
    body.setdefault("owner", vector["address"])
    body["signature"] = vector["signature_rsv"]
    spec = SchemeSpec(
        "vector",
        SchemeKind.SIP018,
        MappingProxyType(domain),
        message=tuple(entries),
        onchain=onchain,
    )
    return spec, body


def decimal_strings(value: Any) -> Any:
    """Typed-data values as our bodies carry them: integers as decimal strings."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return {k: decimal_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decimal_strings(v) for v in value]
    return value


# Polymarket's Order has no uuid or owner: its salt and maker play those parts.
_EIP712_FIELDS = {"Polymarket CTF Exchange Order (12 fields)": {"salt": "uuid", "maker": "owner"}}


def eip712_case(vector: dict[str, Any]) -> tuple[SchemeSpec, dict]:
    typed = vector["typed_data"]
    fields = _EIP712_FIELDS.get(vector["name"], {})
    types = {
        name: tuple(MappingProxyType(m) for m in members)
        for name, members in typed["types"].items()
        if name != "EIP712Domain"
    }
    spec = SchemeSpec(
        "vector",
        SchemeKind.EIP712,
        MappingProxyType(dict(typed["domain"])),
        primary_type=typed["primaryType"],
        types=MappingProxyType(types),
        fields=MappingProxyType(fields),
    )
    message = decimal_strings(typed["message"])
    body = {fields.get(member, member): value for member, value in message.items()}
    body["signature"] = vector["signature"]
    return spec, body
