"""EIP-712 typed structured data hashing, compiled once per scheme.

`TypedDataSchema(types, primary_type, domain)` checks the type declarations,
computes every `typeHash` and the domain separator, and builds one encoder per
member, so hashing an order is only value conversion and Keccak calls.

Values are read strictly (the permissive readings of other libraries are what
makes two different orders sign alike): integers only from decimal strings
within the type's range, `bool` only from JSON booleans, addresses as `0x` +
40 hex (EIP-55 checked when mixed case), `bytesN` as `0x` + exactly 2N hex,
structs with exactly their declared members. A bad value raises
`Eip712Error` with the path of the member.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from walletgate_client._wallets import evm

Encoder = Callable[[Any, str], bytes]  # (value, path) -> the 32-byte encodeData word

# EIP-712: EIP712Domain's fields, in the order its type is written.
DOMAIN_FIELDS = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
)
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ARRAY = re.compile(r"(.+)\[([0-9]*)\]")
# 256-bit values have at most 78 digits; the bound also keeps int() off huge strings.
_UNSIGNED = re.compile(r"0|[1-9][0-9]{0,77}")
_SIGNED = re.compile(r"0|-?[1-9][0-9]{0,77}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_ATOMIC_INT = re.compile(r"(u?)int([0-9]+)")
_FIXED_BYTES = re.compile(r"bytes([0-9]+)")
_ZERO_12 = bytes(12)


class Eip712Error(ValueError):
    """A type declaration or a value EIP-712 cannot encode; `path` names the member."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


def keccak256(data: bytes) -> bytes:
    return evm.keccak256(data)


def _integer(bits: int, signed: bool) -> Encoder:
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    pattern = _SIGNED if signed else _UNSIGNED
    kind = f"{'' if signed else 'u'}int{bits}"

    def encode(value: Any, path: str) -> bytes:
        # Decimal strings only: a JSON number may have lost precision in the client.
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            raise Eip712Error(path, f"{kind} must be a decimal string")
        number = int(value)
        if not low <= number <= high:
            raise Eip712Error(path, f"out of range for {kind}")
        return number.to_bytes(32, "big", signed=signed)

    return encode


def _bool(value: Any, path: str) -> bytes:
    if value is True:
        return (1).to_bytes(32, "big")
    if value is False:
        return bytes(32)
    raise Eip712Error(path, "bool must be JSON true or false")


def address_bytes(value: Any, path: str) -> bytes:
    """`0x` + 40 hex; a mixed-case address must carry a valid EIP-55 checksum."""
    if not isinstance(value, str):
        raise Eip712Error(path, "address must be 0x followed by 40 hex digits")
    try:
        return _checked_address(value)
    except Eip712Error as exc:
        raise Eip712Error(path, exc.reason) from None


# Orders repeat their addresses (owner, tokens): the EIP-55 Keccak runs once per
# address. Failures raise and are never cached.
@lru_cache(maxsize=16384)
def _checked_address(value: str) -> bytes:
    if not evm.is_address(value):
        raise Eip712Error("", "address must be 0x followed by 40 hex digits")
    if not evm.has_valid_checksum(value):
        raise Eip712Error("", "bad EIP-55 checksum")
    return bytes.fromhex(value[2:])


def _address(value: Any, path: str) -> bytes:
    return _ZERO_12 + address_bytes(value, path)


def hex_bytes(value: Any, path: str, size: int | None = None) -> bytes:
    """`0x` + hex digits; exactly `size` bytes when given."""
    if not isinstance(value, str) or value[:2] != "0x" or _HEX.fullmatch(value, 2) is None:
        raise Eip712Error(path, "bytes must be 0x followed by pairs of hex digits")
    data = bytes.fromhex(value[2:])
    if size is not None and len(data) != size:
        raise Eip712Error(path, f"must be exactly {size} bytes")
    return data


def _fixed_bytes(size: int) -> Encoder:
    return lambda value, path: hex_bytes(value, path, size).ljust(32, b"\x00")


def _dynamic_bytes(value: Any, path: str) -> bytes:
    return keccak256(hex_bytes(value, path))


def _string(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise Eip712Error(path, "string must be a JSON string")
    try:
        if len(value) <= _SHORT_STRING:
            return _short_string_hash(value)
        return keccak256(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise Eip712Error(path, "string is not valid Unicode") from None


# Short strings repeat across orders (sides, prices, symbols): hashed once each.
_SHORT_STRING = 64


@lru_cache(maxsize=16384)
def _short_string_hash(value: str) -> bytes:
    return keccak256(value.encode("utf-8"))


def atomic_encoder(kind: str) -> Encoder | None:
    """The encoder of an atomic or dynamic EIP-712 type, None if `kind` is not one."""
    fixed = {"bool": _bool, "address": _address, "bytes": _dynamic_bytes, "string": _string}
    if kind in fixed:
        return fixed[kind]
    found = _ATOMIC_INT.fullmatch(kind)
    if found:
        bits = int(found.group(2))
        if bits % 8 or not 8 <= bits <= 256 or found.group(2).startswith("0"):
            return None
        return _integer(bits, signed=not found.group(1))
    found = _FIXED_BYTES.fullmatch(kind)
    if found and 1 <= int(found.group(1)) <= 32 and not found.group(1).startswith("0"):
        return _fixed_bytes(int(found.group(1)))
    return None


@dataclass(frozen=True, slots=True)
class StructType:
    name: str
    members: tuple[tuple[str, str], ...]  # (name, type) in declared order
    type_hash: bytes
    encoders: tuple[tuple[str, Encoder], ...]


class TypedDataSchema:
    """One primary type with its domain, compiled: `digest(message)` is all that is left."""

    def __init__(
        self,
        types: Mapping[str, Sequence[Mapping[str, str]]],
        primary_type: str,
        domain: Mapping[str, Any],
    ) -> None:
        if "EIP712Domain" in types:
            raise Eip712Error("types.EIP712Domain", "is built from the domain; do not declare it")
        domain_members = [(n, t) for n, t in DOMAIN_FIELDS if n in domain]
        unknown = sorted(set(domain) - {n for n, _ in DOMAIN_FIELDS})
        if unknown:
            raise Eip712Error(f"domain.{unknown[0]}", "not an EIP712Domain field")
        declared = {name: _members(name, members) for name, members in types.items()}
        declared["EIP712Domain"] = tuple(domain_members)
        self._declared = declared
        if primary_type not in types:
            raise Eip712Error("primary_type", f"{primary_type!r} is not declared in types")
        self._structs: dict[str, StructType] = {}
        for name in declared:
            self._structs[name] = self._compile(name)
        self.primary_type = primary_type
        self.primary = self._structs[primary_type]
        self.domain = dict(domain)
        self.domain_separator = self.hash_struct("EIP712Domain", domain, "domain")

    def _compile(self, name: str) -> StructType:
        members = self._declared[name]
        encoders = tuple((member, self._encoder(kind, name)) for member, kind in members)
        return StructType(name, members, keccak256(self.encode_type(name).encode()), encoders)

    def _encoder(self, kind: str, owner: str) -> Encoder:
        array = _ARRAY.fullmatch(kind)
        if array:
            return self._array_encoder(array.group(1), array.group(2), owner)
        atomic = atomic_encoder(kind)
        if atomic is not None:
            return atomic
        if kind in self._declared and kind != "EIP712Domain":
            # Looked up when called: structs may refer to each other in any order.
            return lambda value, path: self.hash_struct(kind, value, path)
        raise Eip712Error(f"types.{owner}", f"unknown type {kind!r}")

    def _array_encoder(self, element_kind: str, size_text: str, owner: str) -> Encoder:
        element = self._encoder(element_kind, owner)
        size = int(size_text) if size_text else None

        def encode(value: Any, path: str) -> bytes:
            if not isinstance(value, list):
                raise Eip712Error(path, "array must be a JSON array")
            if size is not None and len(value) != size:
                raise Eip712Error(path, f"array must have {size} elements")
            return keccak256(b"".join(element(v, f"{path}[{i}]") for i, v in enumerate(value)))

        return encode

    def dependencies(self, name: str) -> list[str]:
        """Struct types `name` refers to, directly or not, `name` excluded."""
        found: list[str] = []
        pending = [name]
        while pending:
            current = pending.pop()
            for _, kind in self._declared[current]:
                base = kind.split("[", 1)[0]
                if base in self._declared and base != name and base not in found:
                    found.append(base)
                    pending.append(base)
        return sorted(found)

    def encode_type(self, name: str) -> str:
        """`Name(type member,...)` followed by its dependencies sorted by name."""
        return "".join(
            f"{struct}({','.join(f'{kind} {member}' for member, kind in self._declared[struct])})"
            for struct in [name, *self.dependencies(name)]
        )

    def type_hash(self, name: str) -> bytes:
        return self._structs[name].type_hash

    def hash_struct(self, name: str, value: Any, path: str) -> bytes:
        """keccak256(typeHash ‖ encodeData(value)); exactly the declared members."""
        struct = self._structs[name]
        if not isinstance(value, Mapping):
            raise Eip712Error(path, f"{name} must be a JSON object")
        if len(value) != len(struct.encoders):
            extra = sorted(set(value) - {member for member, _ in struct.encoders})
            if extra:
                raise Eip712Error(_join(path, extra[0]), f"not a member of {name}")
        words = [struct.type_hash]
        for member, encode in struct.encoders:
            if member not in value:
                raise Eip712Error(_join(path, member), "is required")
            words.append(encode(value[member], _join(path, member)))
        return keccak256(b"".join(words))

    def digest(self, message: Mapping[str, Any]) -> bytes:
        """keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))."""
        return keccak256(
            b"\x19\x01" + self.domain_separator + self.hash_struct(self.primary_type, message, "")
        )

    def types_document(self) -> dict[str, list[dict[str, str]]]:
        """`types` as `eth_signTypedData_v4` takes it, EIP712Domain first."""
        return {
            name: [{"name": member, "type": kind} for member, kind in members]
            for name, members in sorted(
                self._declared.items(), key=lambda i: i[0] != "EIP712Domain"
            )
        }


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _members(name: str, members: Sequence[Mapping[str, str]]) -> tuple[tuple[str, str], ...]:
    if _IDENTIFIER.fullmatch(name) is None:
        raise Eip712Error(f"types.{name}", "type names are identifiers")
    out: list[tuple[str, str]] = []
    for i, member in enumerate(members):
        if not isinstance(member, Mapping) or set(member) != {"name", "type"}:
            raise Eip712Error(f"types.{name}[{i}]", "a member is { name, type }")
        member_name, kind = member["name"], member["type"]
        if not isinstance(member_name, str) or _IDENTIFIER.fullmatch(member_name) is None:
            raise Eip712Error(f"types.{name}[{i}].name", "member names are identifiers")
        if not isinstance(kind, str):
            raise Eip712Error(f"types.{name}[{i}].type", "must be a string")
        if member_name in (m for m, _ in out):
            raise Eip712Error(f"types.{name}[{i}].name", f"{member_name!r} is declared twice")
        out.append((member_name, kind))
    if not out:
        raise Eip712Error(f"types.{name}", "a struct needs at least one member")
    return tuple(out)
