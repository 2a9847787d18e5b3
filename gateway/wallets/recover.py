"""Verify a wallet's message signature by secp256k1 public-key recovery.

Any failure, whatever its cause, is `InvalidSignature`: the caller never
sees a library exception. Shapes are checked before the curve is touched.

This runs once per signed request, so everything but the recovery itself is
kept cheap: shapes are checked on bytes, and what depends only on a wallet's
public key (its hash160, its EVM address) is cached per key.
"""

from __future__ import annotations

from functools import lru_cache

from coincurve import PublicKey

from gateway.wallets import evm, stacks
from gateway.wallets.address import Chain, WalletAddress
from gateway.wallets.errors import InvalidSignature
from gateway.wallets.secp256k1 import (
    COMPRESSED_KEY_BYTES,
    SIGNATURE_BYTES,
    UNCOMPRESSED_KEY_BYTES,
    RecoveredKey,
    RecoveryFailed,
    recover,
)

# Order of the secp256k1 group.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# Big-endian byte strings of equal length compare like the numbers they encode.
_N_BYTES = SECP256K1_N.to_bytes(32, "big")
_ZERO_32 = bytes(32)
# Recovered keys repeat (one per wallet); their digests are cached per key.
_KEY_CACHE_SIZE = 4096
# Read once: every `Chain.X` lookup runs EnumType's attribute hook (~1 k instructions).
_STACKS = Chain.STACKS


def _hex_bytes(text: str, size: int) -> bytes | None:
    """Exactly `size` bytes written as 2*size hex digits, optionally after 0x."""
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    if len(text) != 2 * size:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    # fromhex skips whitespace between pairs: fewer bytes means there was some.
    return raw if len(raw) == size else None


def parse_signature(signature_hex: object) -> bytes:
    """65 bytes `r || s || v` in hex (optional 0x); v is 0..3 or 27..30.

    Returns `r || s || recid`, the layout coincurve recovers from.
    """
    raw = _hex_bytes(signature_hex, SIGNATURE_BYTES) if isinstance(signature_hex, str) else None
    if raw is None:
        raise InvalidSignature("signature must be 65 bytes of hex")
    r = raw[:32]
    s = raw[32:64]
    if r == _ZERO_32 or s == _ZERO_32 or r >= _N_BYTES or s >= _N_BYTES:
        raise InvalidSignature("r and s must be in [1, n-1]")
    # Wallets write the recovery id raw (Stacks RSV) or offset by 27 (personal_sign).
    v = raw[64]
    if v <= 3:
        return raw
    if 27 <= v <= 30:
        return raw[:64] + bytes((v - 27,))
    raise InvalidSignature("bad recovery id")


def parse_public_key(public_key_hex: object) -> bytes:
    """A SEC1 public key in hex (optional 0x), compressed or not, on the curve."""
    raw = None
    if isinstance(public_key_hex, str):
        raw = _hex_bytes(public_key_hex, COMPRESSED_KEY_BYTES) or _hex_bytes(
            public_key_hex, UNCOMPRESSED_KEY_BYTES
        )
    if raw is None:
        raise InvalidSignature("public key must be 33 or 65 bytes of hex")
    try:
        PublicKey(raw)
    except Exception:
        raise InvalidSignature("public key is not on the curve") from None
    return raw


def recover_public_key(signature: bytes, digest: bytes) -> RecoveredKey:
    """The key that made `signature` (`r || s || recid`) over the 32-byte `digest`."""
    try:
        return recover(signature, digest)
    except RecoveryFailed:
        # Unrecoverable (no curve point for this r and recovery id).
        raise InvalidSignature("signature does not recover a public key") from None


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _key_hash160(public_key: bytes) -> bytes:
    return stacks.hash160(public_key)


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _evm_address(uncompressed_key: bytes) -> str:
    return evm.address_from_public_key(uncompressed_key)


def evm_address_of(key: RecoveredKey) -> str:
    """The lower-case EVM address of a recovered key (cached per key)."""
    return _evm_address(key.format(compressed=False))


def _check_claimed_key(claimed: bytes, key: RecoveredKey) -> None:
    # A parsed claimed key is 33 or 65 bytes: compare it with that form only.
    if claimed != key.format(compressed=len(claimed) == COMPRESSED_KEY_BYTES):
        raise InvalidSignature("public key does not match the signature")


def stacks_key_matches(
    wallet: WalletAddress, key: RecoveredKey, *, compressed_only: bool = False
) -> bool:
    """Whether `wallet` is the address of `key`, compressed or (unless
    `compressed_only`, as Clarity's `secp256k1-recover?` gives it) uncompressed."""
    # Most wallets hash the compressed key: the other form only when that misses.
    if _key_hash160(key.format(compressed=True)) == wallet.hash160:
        return True
    return not compressed_only and _key_hash160(key.format(compressed=False)) == wallet.hash160


def _verify_stacks(
    wallet: WalletAddress, message: bytes, signature: bytes, claimed: bytes | None
) -> bytes:
    # stacks.js tries the current prefix, then the legacy one.
    for legacy in (False, True):
        digest = stacks.hash_message(message, legacy=legacy)
        try:
            key = recover(signature, digest)
        except RecoveryFailed:
            continue
        if stacks_key_matches(wallet, key):
            if claimed is not None:
                _check_claimed_key(claimed, key)
            return key.format(compressed=True)
    raise InvalidSignature("signature does not match the wallet address")


def _verify_evm(
    wallet: WalletAddress, message: bytes, signature: bytes, claimed: bytes | None
) -> bytes:
    key = recover_public_key(signature, evm.hash_message(message))
    if _evm_address(key.format(compressed=False)) != wallet.canonical:
        raise InvalidSignature("signature does not match the wallet address")
    if claimed is not None:
        _check_claimed_key(claimed, key)
    return key.format(compressed=True)


def verify_signature_bytes(
    wallet: WalletAddress, message: bytes, signature_hex: str, public_key_hex: str | None = None
) -> bytes:
    """`verify_message_signature` for a message already encoded as UTF-8.

    Returns the signer's recovered public key (33 bytes, compressed): one key
    has several Stacks addresses, so replay entries are keyed by the key.
    """
    signature = parse_signature(signature_hex)
    claimed = None if public_key_hex is None else parse_public_key(public_key_hex)
    if wallet.chain == _STACKS:
        return _verify_stacks(wallet, message, signature, claimed)
    return _verify_evm(wallet, message, signature, claimed)


def verify_message_signature(
    wallet: WalletAddress, message: str, signature_hex: str, public_key_hex: str | None = None
) -> None:
    """Check that `wallet` signed exactly `message`; raise InvalidSignature if not."""
    signature = parse_signature(signature_hex)
    claimed = None if public_key_hex is None else parse_public_key(public_key_hex)
    if not isinstance(message, str):
        raise InvalidSignature("message must be a string")
    try:
        data = message.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSignature("message is not valid UTF-8") from None
    if wallet.chain == Chain.STACKS:
        _verify_stacks(wallet, data, signature, claimed)
    else:
        _verify_evm(wallet, data, signature, claimed)
