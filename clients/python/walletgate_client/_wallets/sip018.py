"""SIP-018 structured data: an order body read into a Clarity tuple, then hashed.

`Sip018Message(entries, domain)` compiles the tuple template once: each key's
serialized name and a converter from its body value (or its constant's bytes),
in byte order. `digest(order)` is then conversions, one concatenation and
three SHA-256 calls: `sha256("SIP018" ‖ sha256(cv(domain)) ‖ sha256(cv(msg)))`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from walletgate_client._wallets import clarity, stacks
from walletgate_client._wallets.order_spec import MessageEntry

SIP018_PREFIX = b"SIP018"
MAINNET_CHAIN_ID = 1
TESTNET_CHAIN_ID = 2147483648
NETWORK_OF_CHAIN = {MAINNET_CHAIN_ID: "mainnet", TESTNET_CHAIN_ID: "testnet"}
_VERSIONS = {
    "mainnet": frozenset({stacks.MAINNET_SINGLESIG, stacks.MAINNET_MULTISIG}),
    "testnet": frozenset({stacks.TESTNET_SINGLESIG, stacks.TESTNET_MULTISIG}),
}
_TYPE = re.compile(r"(optional )?(list )?(uint|int|bool|principal|string-ascii|string-utf8|buff)")
# 128-bit values have at most 39 digits; the bound also keeps int() off huge strings.
_UNSIGNED = re.compile(r"0|[1-9][0-9]{0,38}")
_SIGNED = re.compile(r"0|-?[1-9][0-9]{0,38}")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
TYPES = ("uint", "int", "bool", "principal", "string-ascii", "string-utf8", "buff")

Convert = Callable[[Any], bytes]
T = TypeVar("T")


class ConversionError(ValueError):
    """A body value (or constant) that does not convert; `reason` says why."""


def _uint(value: Any) -> bytes:
    if not isinstance(value, str) or _UNSIGNED.fullmatch(value) is None:
        raise ConversionError("uint must be a decimal string")
    return _clarity(clarity.uint, int(value))


def _int(value: Any) -> bytes:
    if not isinstance(value, str) or _SIGNED.fullmatch(value) is None:
        raise ConversionError("int must be a decimal string")
    return _clarity(clarity.int_, int(value))


def _bool(value: Any) -> bytes:
    if value is True or value is False:
        return clarity.bool_(value)
    raise ConversionError("bool must be JSON true or false")


def _string_ascii(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ConversionError("string-ascii must be a JSON string")
    return _clarity(clarity.string_ascii, value)


def _string_utf8(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ConversionError("string-utf8 must be a JSON string")
    return _clarity(clarity.string_utf8, value)


def _buff(value: Any) -> bytes:
    if not isinstance(value, str) or _HEX.fullmatch(value) is None:
        raise ConversionError("buff must be 0x followed by pairs of hex digits")
    return clarity.buff(bytes.fromhex(value[2:]))


def _clarity(encode: Callable[[Any], T], value: Any) -> T:
    try:
        return encode(value)
    except clarity.ClarityError as exc:
        raise ConversionError(str(exc)) from None


def _principal(network: str) -> Convert:
    versions = _VERSIONS[network]

    def convert(value: Any) -> bytes:
        if not isinstance(value, str):
            raise ConversionError("principal must be a JSON string")
        version, serialized = _clarity(clarity.versioned_principal, value)
        if version not in versions:
            raise ConversionError(f"principal is not a {network} address")
        return serialized

    return convert


def converter(type_text: str, network: str) -> Convert:
    """The strict converter of one SIP-018 order type (`uint`, `optional principal`, ...)."""
    found = _TYPE.fullmatch(type_text)
    if found is None:
        raise ConversionError(
            f"unknown type {type_text!r} (one of {', '.join(TYPES)}, or optional X, list X)"
        )
    optional, is_list, base = found.groups()
    plain: Convert = {
        "uint": _uint,
        "int": _int,
        "bool": _bool,
        "string-ascii": _string_ascii,
        "string-utf8": _string_utf8,
        "buff": _buff,
    }.get(base) or _principal(network)
    if is_list:
        plain = _list_of(plain)
    if not optional:
        return plain
    return lambda value: clarity.NONE if value is None else clarity.some(plain(value))


def _list_of(item: Convert) -> Convert:
    def convert(value: Any) -> bytes:
        if not isinstance(value, list):
            raise ConversionError("list must be a JSON array")
        return clarity.list_(item(v) for v in value)

    return convert


def config_value(value: Any) -> Any:
    """A TOML constant as a body value: TOML integers read as decimal strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class Sip018Message:
    """One scheme's domain and tuple template, compiled."""

    def __init__(self, entries: Sequence[MessageEntry], domain: Mapping[str, Any]) -> None:
        chain_id = domain.get("chain-id")
        if type(chain_id) is not int or chain_id not in NETWORK_OF_CHAIN:
            raise ConversionError("domain.chain-id must be 1 (mainnet) or 2147483648 (testnet)")
        self.network = NETWORK_OF_CHAIN[chain_id]
        for key in ("name", "version"):
            if not isinstance(domain.get(key), str):
                raise ConversionError(f"domain.{key} must be a string")
        if set(domain) != {"name", "version", "chain-id"}:
            raise ConversionError("domain has exactly name, version and chain-id")
        domain_cv = clarity.tuple_(
            {
                "name": _clarity(clarity.string_ascii, domain["name"]),
                "version": _clarity(clarity.string_ascii, domain["version"]),
                "chain-id": clarity.uint(chain_id),
            }
        )
        self.domain_hash = hashlib.sha256(domain_cv).digest()
        ordered = sorted(entries, key=lambda e: e.key.encode("ascii", "replace"))
        self.entries = tuple(ordered)
        self._header = bytes((clarity.TypeId.TUPLE,)) + len(ordered).to_bytes(4, "big")
        # (key bytes, body field or None, converter, constant bytes)
        self._plan: list[tuple[bytes, str | None, Convert | None, bytes]] = []
        for entry in ordered:
            self._plan.append(self._compile(entry))

    def _compile(self, entry: MessageEntry) -> tuple[bytes, str | None, Convert | None, bytes]:
        if clarity.TUPLE_KEY.fullmatch(entry.key) is None or len(entry.key) > 128:
            raise ConversionError(f"message.{entry.key}: tuple keys match [a-z][a-z0-9-]*")
        name = clarity.tuple_key(entry.key)
        if entry.type == "none":
            if entry.field is not None or entry.has_const:
                raise ConversionError(f"message.{entry.key}: type none takes no field or const")
            return name, None, None, clarity.NONE
        try:
            convert = converter(entry.type, self.network)
        except ConversionError as exc:
            raise ConversionError(f"message.{entry.key}.type: {exc}") from None
        if (entry.field is None) == (not entry.has_const):
            raise ConversionError(f"message.{entry.key}: give exactly one of field or const")
        if entry.field is not None:
            return name, entry.field, convert, b""
        # TOML integers stand for decimal strings only where an integer is meant.
        numeric = entry.type.rsplit(" ", 1)[-1] in ("uint", "int")
        const = config_value(entry.const) if numeric else entry.const
        try:
            return name, None, None, convert(const)
        except ConversionError as exc:
            raise ConversionError(f"message.{entry.key}.const: {exc}") from None

    @property
    def mapped_fields(self) -> frozenset[str]:
        return frozenset(e.field for e in self.entries if e.field is not None)

    def message_bytes(self, order: Mapping[str, Any]) -> bytes:
        """The consensus serialization of the order's tuple; `FieldError` names a bad field."""
        parts = [self._header]
        for name, body_field, convert, constant in self._plan:
            parts.append(name)
            if convert is None:
                parts.append(constant)
                continue
            try:
                parts.append(convert(order.get(body_field)))  # type: ignore[arg-type]
            except ConversionError as exc:
                raise FieldError(str(body_field), str(exc)) from None
        return b"".join(parts)

    def digest(self, order: Mapping[str, Any]) -> bytes:
        message_hash = hashlib.sha256(self.message_bytes(order)).digest()
        return hashlib.sha256(SIP018_PREFIX + self.domain_hash + message_hash).digest()


class FieldError(ValueError):
    """An order body field that does not convert to its signed value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def structured_digest(domain_cv: bytes, message_cv: bytes) -> bytes:
    """SIP-018's digest from two serialized Clarity values (vectors, tests)."""
    return hashlib.sha256(
        SIP018_PREFIX + hashlib.sha256(domain_cv).digest() + hashlib.sha256(message_cv).digest()
    ).digest()
