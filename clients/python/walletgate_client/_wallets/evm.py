"""EVM message signing encodings (docs/signing.md, EVM).

EIP-191 version 0x45 (`personal_sign`) for the digest, Keccak-256 addresses
and EIP-55 mixed-case checksums. `hashlib.sha3_256` is the NIST SHA-3 padding,
not Keccak-256, so Keccak comes from pycryptodome.
"""

from __future__ import annotations

import re

from Crypto.Hash import keccak

PERSONAL_SIGN_PREFIX = b"\x19Ethereum Signed Message:\n"
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def encode_message(message: bytes) -> bytes:
    """EIP-191 `personal_sign` payload: prefix, decimal byte length, message bytes."""
    return PERSONAL_SIGN_PREFIX + str(len(message)).encode("ascii") + message


def hash_message(message: bytes) -> bytes:
    """The digest `personal_sign` signs (eth-account `encode_defunct` + `_hash_eip191_message`)."""
    return keccak256(encode_message(message))


def address_bytes_from_public_key(pubkey65: bytes) -> bytes:
    if len(pubkey65) != 65 or pubkey65[0] != 4:
        raise ValueError("an EVM address hashes the 65-byte uncompressed public key")
    return keccak256(pubkey65[1:])[-20:]


def address_from_public_key(pubkey65: bytes) -> str:
    """`0x` + the last 20 bytes of Keccak-256 of X || Y, lower case."""
    return "0x" + address_bytes_from_public_key(pubkey65).hex()


def is_address(text: str) -> bool:
    """`0x` + 40 hex digits, any case (the checksum is checked separately)."""
    return _ADDRESS_RE.fullmatch(text) is not None


def to_checksum_address(address: str) -> str:
    """EIP-55: upper-case each hex letter whose nibble in keccak(lower hex) is >= 8."""
    if not is_address(address):
        raise ValueError("not an EVM address")
    lower = address[2:].lower()
    digest = keccak256(lower.encode("ascii")).hex()
    # Hex digits "8"-"f" sort after "7" in ASCII; upper() leaves digits alone.
    return "0x" + "".join(
        char.upper() if nibble > "7" else char for char, nibble in zip(lower, digest, strict=False)
    )


def has_valid_checksum(address: str) -> bool:
    """All-lower and all-upper addresses carry no checksum; mixed case must be EIP-55."""
    body = address[2:]
    if body == body.lower() or body == body.upper():
        return True
    return to_checksum_address(address) == address
