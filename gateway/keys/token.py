"""API-key tokens: make them, check their shape, hash them.

A key is ``<prefix><body><checksum>``: the body carries 256 bits from
`secrets` in fixed-width base62, the checksum is CRC32 over prefix+body in
fixed-width base62. CRC32 detects every error burst of up to 32 bits, so any
single mistyped character and any adjacent swap is caught, and the fixed
length catches truncation, all before a store lookup. Only the SHA-256 of the
whole key is ever stored.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from collections.abc import Collection
from typing import Final

BASE62_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BODY_BITS: Final = 256
# 62**43 > 2**256 > 62**42: the smallest width that holds every body.
BODY_WIDTH: Final = 43
# 62**6 > 2**32: the smallest width that holds every CRC32.
CHECKSUM_WIDTH: Final = 6
TAIL_WIDTH: Final = BODY_WIDTH + CHECKSUM_WIDTH
KEY_ID_PREFIX: Final = "key_"
HINT_ELLIPSIS: Final = "…"
_HINT_CHARS: Final = 4


def base62_encode(value: int, width: int) -> str:
    """Encode a non-negative int as exactly `width` base62 digits, most significant first."""
    if value < 0:
        raise ValueError("base62 encodes non-negative integers only")
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(BASE62_ALPHABET[digit])
    if value:
        raise ValueError(f"value does not fit in {width} base62 digits")
    return "".join(reversed(digits))


def _checksum(prefix: str, body: str) -> str:
    crc = zlib.crc32((prefix + body).encode("utf-8", "surrogatepass"))
    return base62_encode(crc, CHECKSUM_WIDTH)


def encode_api_key(prefix: str, secret: int) -> str:
    """The key for a given 256-bit secret; `generate_api_key` draws the secret."""
    if not 0 <= secret < 1 << BODY_BITS:
        raise ValueError("the secret must be a 256-bit non-negative integer")
    body = base62_encode(secret, BODY_WIDTH)
    return prefix + body + _checksum(prefix, body)


def generate_api_key(prefix: str) -> str:
    """A fresh key: prefix + 43 base62 chars of 256 random bits + 6 checksum chars."""
    return encode_api_key(prefix, secrets.randbits(BODY_BITS))


def _tail_is_valid(prefix: str, tail: str) -> bool:
    # isascii() + isalnum() is exactly [0-9A-Za-z], checked in C.
    if not (tail.isascii() and tail.isalnum()):
        return False
    body, checksum = tail[:BODY_WIDTH], tail[BODY_WIDTH:]
    return _checksum(prefix, body) == checksum


def check_api_key_format(key: str, prefix: str | Collection[str]) -> bool:
    """True when `key` has one of the prefixes, the right length, charset and checksum.

    Cheap (length is checked first, so huge inputs cost nothing) and total:
    any input that is not a well-formed key gives False, never an exception.
    """
    if not isinstance(key, str):
        return False
    prefixes = (prefix,) if isinstance(prefix, str) else prefix
    for candidate in prefixes:
        if len(key) == len(candidate) + TAIL_WIDTH and key.startswith(candidate):
            return _tail_is_valid(candidate, key[len(candidate) :])
    return False


def hash_api_key(key: str) -> str:
    """SHA-256 hex of the whole key, the only form in which keys are stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_hint(key: str) -> str:
    """A display hint such as ``ck_live_abcd…wxyz``: prefix, 4 body chars, last 4 chars."""
    prefix_len = max(len(key) - TAIL_WIDTH, 0)
    prefix, tail = key[:prefix_len], key[prefix_len:]
    if len(tail) < 2 * _HINT_CHARS:
        return prefix + HINT_ELLIPSIS
    return prefix + tail[:_HINT_CHARS] + HINT_ELLIPSIS + tail[-_HINT_CHARS:]


def generate_key_id() -> str:
    """``key_`` + 16 random hex chars; unrelated to the key itself."""
    return KEY_ID_PREFIX + secrets.token_hex(8)
