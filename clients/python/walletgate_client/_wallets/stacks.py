"""Stacks message signing encodings (docs/signing.md, Stacks).

Mirrors stacks.js: `@stacks/encryption` `hashMessage`/`encodeMessage` for the
digest, and the `c32check` package for addresses. Pure functions over bytes;
signature recovery itself lives in `recover.py`.
"""

from __future__ import annotations

import base64
import hashlib
import re

from Crypto.Hash import RIPEMD160

# stacks.js `chainPrefix` today, and the prefix it still accepts from older wallets.
MESSAGE_PREFIX = b"\x17Stacks Signed Message:\n"
LEGACY_MESSAGE_PREFIX = b"\x18Stacks Message Signing:\n"

C32_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_C32_INDEX = {char: index for index, char in enumerate(C32_ALPHABET)}
_C32_RE = re.compile(f"[{C32_ALPHABET}]*")
_RFC4648_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_RFC4648_TO_C32 = str.maketrans(_RFC4648_ALPHABET, C32_ALPHABET)
_C32_TO_RFC4648 = str.maketrans(C32_ALPHABET, _RFC4648_ALPHABET)
# c32 normalisation: the look-alike letters a human may type for 0 and 1.
_C32_NORMALISE = str.maketrans({"O": "0", "I": "1", "L": "1"})

MAINNET_SINGLESIG = 22  # SP
TESTNET_SINGLESIG = 26  # ST
MAINNET_MULTISIG = 20  # SM
TESTNET_MULTISIG = 21  # SN
SINGLESIG_VERSIONS = frozenset({MAINNET_SINGLESIG, TESTNET_SINGLESIG})
MULTISIG_VERSIONS = frozenset({MAINNET_MULTISIG, TESTNET_MULTISIG})
NETWORK_VERSIONS = {"mainnet": MAINNET_SINGLESIG, "testnet": TESTNET_SINGLESIG}


class C32Error(ValueError):
    """A string or payload that is not valid c32 / c32check."""


def compact_size(n: int) -> bytes:
    """Bitcoin's CompactSize unsigned integer, as `encodeMessage` prefixes the length."""
    if n < 0:
        raise ValueError("length cannot be negative")
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def encode_message(message: bytes, *, legacy: bool = False) -> bytes:
    """stacks.js `encodeMessage`: prefix, CompactSize length, message bytes."""
    prefix = LEGACY_MESSAGE_PREFIX if legacy else MESSAGE_PREFIX
    return prefix + compact_size(len(message)) + message


def hash_message(message: bytes, *, legacy: bool = False) -> bytes:
    """stacks.js `hashMessage`: SHA-256 of the encoded message (the signed digest)."""
    return hashlib.sha256(encode_message(message, legacy=legacy)).digest()


def _openssl_ripemd160() -> bool:
    # OpenSSL 3 builds may leave RIPEMD-160 to the legacy provider; pycryptodome
    # always has it, at several times the cost per call.
    try:
        hashlib.new("ripemd160")
    except ValueError:
        return False
    return True


_OPENSSL_RIPEMD160 = _openssl_ripemd160()


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256, the Bitcoin/Stacks public-key hash."""
    if _OPENSSL_RIPEMD160:
        return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()
    return RIPEMD160.new(hashlib.sha256(data).digest()).digest()


def c32_normalise(text: str) -> str:
    # ASCII first: str.upper() maps some non-ASCII letters onto ASCII ones (U+017F long s -> "S").
    if not text.isascii():
        raise C32Error("c32 is ASCII only")
    return text.upper().translate(_C32_NORMALISE)


def c32_encode(data: bytes) -> str:
    """c32check `c32encode`: big-endian base 32, one `0` per leading zero byte."""
    significant = data.lstrip(b"\x00")
    # RFC 4648 base 32 of a big-endian number padded to whole 5-byte groups is
    # the number's base-32 digits; only the alphabet differs from c32.
    padded = bytes(-len(significant) % 5) + significant
    digits = base64.b32encode(padded).decode("ascii").translate(_RFC4648_TO_C32)
    return "0" * (len(data) - len(significant)) + digits.lstrip("0")


def c32_decode(text: str) -> bytes:
    """c32check `c32decode`: inverse of `c32_encode`, after c32 normalisation."""
    normalised = c32_normalise(text)
    if not _C32_RE.fullmatch(normalised):
        raise C32Error("invalid c32 character")
    significant = normalised.lstrip("0")
    padded = "0" * (-len(significant) % 8) + significant
    number = base64.b32decode(padded.translate(_C32_TO_RFC4648)).lstrip(b"\x00")
    return bytes(len(normalised) - len(significant)) + number


def c32_checksum(version: int, payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(bytes([version]) + payload).digest()).digest()[:4]


def c32check_address(version: int, hash160_bytes: bytes) -> str:
    """c32check `c32address`: `S` + version character + c32(hash160 || checksum)."""
    if not 0 <= version < 32:
        raise C32Error("version must be in [0, 31]")
    if len(hash160_bytes) != 20:
        raise C32Error("hash160 must be 20 bytes")
    data = hash160_bytes + c32_checksum(version, hash160_bytes)
    return "S" + C32_ALPHABET[version] + c32_encode(data)


def c32check_decode_address(address: str) -> tuple[int, bytes]:
    """c32check `c32addressDecode`: (version, hash160), checksum verified."""
    normalised = c32_normalise(address)
    if len(normalised) < 3 or normalised[0] != "S":
        raise C32Error("a Stacks address starts with S")
    version = _C32_INDEX.get(normalised[1])
    if version is None:
        raise C32Error(f"invalid c32 character {normalised[1]!r}")
    data = c32_decode(normalised[2:])
    if len(data) != 24:
        raise C32Error("wrong payload length")
    payload, checksum = data[:20], data[20:]
    if c32_checksum(version, payload) != checksum:
        raise C32Error("bad checksum")
    return version, payload


def address_from_public_key(pubkey: bytes, version: int) -> str:
    """`publicKeyToAddress`: the address hashes the key bytes exactly as given."""
    return c32check_address(version, hash160(pubkey))
