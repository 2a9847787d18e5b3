"""Clarity consensus serialization (SIP-005), the bytes SIP-018 hashes.

One function per Clarity value type, each returning the value's exact
serialization; callers compose them. Tuples sort their keys by bytes, as the
Clarity VM does (`to-consensus-buff?`): stacks.js 7 sorts with
`localeCompare`, which agrees only on the key charset `[a-z][a-z0-9-]*` that
order schemes are restricted to.

Values are checked here (ranges, lengths, charsets) and a bad one raises
`ClarityError`; order-scheme code turns that into a 400 naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import IntEnum
from functools import lru_cache

from walletgate_client._wallets import stacks

UINT_MAX = (1 << 128) - 1
INT_MIN = -(1 << 127)
INT_MAX = (1 << 127) - 1
# Clarity contract names: a letter, then letters, digits, `-` or `_`; 1-40 chars
# (`CONTRACT_MIN_NAME_LENGTH`/`CONTRACT_MAX_NAME_LENGTH` in stacks-core).
CONTRACT_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_-]{0,39}")
# Printable ASCII: what a `string-ascii` order value may hold.
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
TUPLE_KEY = re.compile(r"[a-z][a-z0-9-]*")
MAX_TUPLE_KEY = 128
PRINCIPAL_VERSIONS = frozenset(
    {
        stacks.MAINNET_SINGLESIG,
        stacks.TESTNET_SINGLESIG,
        stacks.MAINNET_MULTISIG,
        stacks.TESTNET_MULTISIG,
    }
)


class ClarityError(ValueError):
    """A value that has no Clarity serialization of the requested type."""


class TypeId(IntEnum):
    """Consensus type prefixes (stacks-core `TypePrefix`)."""

    INT = 0x00
    UINT = 0x01
    BUFFER = 0x02
    TRUE = 0x03
    FALSE = 0x04
    STANDARD_PRINCIPAL = 0x05
    CONTRACT_PRINCIPAL = 0x06
    NONE = 0x09
    SOME = 0x0A
    LIST = 0x0B
    TUPLE = 0x0C
    STRING_ASCII = 0x0D
    STRING_UTF8 = 0x0E


NONE = bytes((TypeId.NONE,))
TRUE = bytes((TypeId.TRUE,))
FALSE = bytes((TypeId.FALSE,))


def _length(size: int) -> bytes:
    if size > 0xFFFFFFFF:
        raise ClarityError("value is too long")
    return size.to_bytes(4, "big")


def uint(value: int) -> bytes:
    if not 0 <= value <= UINT_MAX:
        raise ClarityError("uint is out of range [0, 2^128-1]")
    return bytes((TypeId.UINT,)) + value.to_bytes(16, "big")


def int_(value: int) -> bytes:
    if not INT_MIN <= value <= INT_MAX:
        raise ClarityError("int is out of range [-2^127, 2^127-1]")
    return bytes((TypeId.INT,)) + value.to_bytes(16, "big", signed=True)


def bool_(value: bool) -> bytes:
    return TRUE if value else FALSE


def buff(data: bytes) -> bytes:
    return bytes((TypeId.BUFFER,)) + _length(len(data)) + data


def string_ascii(text: str) -> bytes:
    if PRINTABLE_ASCII.fullmatch(text) is None:
        raise ClarityError("string-ascii holds printable ASCII only")
    data = text.encode("ascii")
    return bytes((TypeId.STRING_ASCII,)) + _length(len(data)) + data


def string_utf8(text: str) -> bytes:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ClarityError("string-utf8 must be valid Unicode (no lone surrogates)") from None
    return bytes((TypeId.STRING_UTF8,)) + _length(len(data)) + data


def some(serialized: bytes) -> bytes:
    return bytes((TypeId.SOME,)) + serialized


def list_(items: Iterable[bytes]) -> bytes:
    parts = list(items)
    return bytes((TypeId.LIST,)) + _length(len(parts)) + b"".join(parts)


def tuple_key(name: str) -> bytes:
    """A tuple key's serialized name: one length byte, then the ASCII name."""
    if not name.isascii() or not 0 < len(name) <= MAX_TUPLE_KEY:
        raise ClarityError("tuple keys are 1-128 ASCII characters")
    return bytes((len(name),)) + name.encode("ascii")


def tuple_(entries: Mapping[str, bytes]) -> bytes:
    """A tuple from already-serialized values, keys sorted by their bytes."""
    keys = sorted(entries, key=lambda name: name.encode("ascii"))
    body = b"".join(tuple_key(name) + entries[name] for name in keys)
    return bytes((TypeId.TUPLE,)) + _length(len(keys)) + body


def parse_principal(text: str) -> tuple[int, bytes, str | None]:
    """(version, hash160, contract name or None) of a canonical principal.

    Canonical means exactly as c32check writes it: upper case, no `O`/`I`/`L`
    look-alikes, so one principal has one spelling and one signed value.
    """
    address, dot, name = text.partition(".")
    try:
        version, hash160 = stacks.c32check_decode_address(address)
    except stacks.C32Error as exc:
        raise ClarityError(f"not a Stacks principal: {exc}") from None
    if version not in PRINCIPAL_VERSIONS:
        raise ClarityError("principal version must be SP, SM, ST or SN")
    if stacks.c32check_address(version, hash160) != address:
        raise ClarityError("principal is not in canonical form (upper case c32check)")
    if not dot:
        return version, hash160, None
    if CONTRACT_NAME.fullmatch(name) is None:
        raise ClarityError("contract name must be a letter then up to 39 of [a-zA-Z0-9_-]")
    return version, hash160, name


def principal(text: str) -> bytes:
    """A standard (`SP…`) or contract (`SP….name`) principal."""
    return versioned_principal(text)[1]


# Orders repeat their principals (tokens, owners, oracles): each is decoded and
# checksummed once. Failures raise and are never cached.
@lru_cache(maxsize=16384)
def versioned_principal(text: str) -> tuple[int, bytes]:
    """(address version, serialization) of a canonical principal."""
    version, hash160, name = parse_principal(text)
    if name is None:
        return version, bytes((TypeId.STANDARD_PRINCIPAL, version)) + hash160
    encoded = name.encode("ascii")
    prefix = bytes((TypeId.CONTRACT_PRINCIPAL, version))
    return version, prefix + hash160 + bytes((len(encoded),)) + encoded
