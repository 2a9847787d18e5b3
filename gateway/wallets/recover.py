"""Verify a wallet's message signature by secp256k1 public-key recovery.

Any failure, whatever its cause, is `401 INVALID_SIGNATURE`: the caller never
sees a library exception. Shapes are checked before the curve is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coincurve import PublicKey

from gateway import errors
from gateway.wallets import evm, stacks
from gateway.wallets.address import Chain, WalletAddress

# Order of the secp256k1 group.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_SIGNATURE_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{130})")
_PUBLIC_KEY_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{66}|[0-9a-fA-F]{130})")
# Longest accepted text: "0x" + 130 hex digits; longer input is refused unscanned.
_MAX_HEX_CHARS = 132


@dataclass(frozen=True, slots=True)
class RecoverableSignature:
    r: int
    s: int
    recid: int

    def to_bytes(self) -> bytes:
        """`r || s || recid`, the layout coincurve recovers from."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([self.recid])


def parse_signature(signature_hex: object) -> RecoverableSignature:
    """65 bytes `r || s || v` in hex (optional 0x); v is 0..3 or 27..30."""
    if not isinstance(signature_hex, str) or len(signature_hex) > _MAX_HEX_CHARS:
        raise errors.invalid_signature("signature must be 65 bytes of hex")
    match = _SIGNATURE_RE.fullmatch(signature_hex)
    if match is None:
        raise errors.invalid_signature("signature must be 65 bytes of hex")
    raw = bytes.fromhex(match.group(1))
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise errors.invalid_signature("r and s must be in [1, n-1]")
    # Wallets write the recovery id raw (Stacks RSV) or offset by 27 (personal_sign).
    recid = v - 27 if v >= 27 else v
    if not 0 <= recid <= 3:
        raise errors.invalid_signature("bad recovery id")
    return RecoverableSignature(r, s, recid)


def parse_public_key(public_key_hex: object) -> bytes:
    """A SEC1 public key in hex (optional 0x), compressed or not, on the curve."""
    if not isinstance(public_key_hex, str) or len(public_key_hex) > _MAX_HEX_CHARS:
        raise errors.invalid_signature("public key must be 33 or 65 bytes of hex")
    match = _PUBLIC_KEY_RE.fullmatch(public_key_hex)
    if match is None:
        raise errors.invalid_signature("public key must be 33 or 65 bytes of hex")
    raw = bytes.fromhex(match.group(1))
    try:
        PublicKey(raw)
    except Exception:
        raise errors.invalid_signature("public key is not on the curve") from None
    return raw


def recover_public_key(signature: RecoverableSignature, digest: bytes) -> PublicKey:
    try:
        return PublicKey.from_signature_and_message(signature.to_bytes(), digest, hasher=None)
    except Exception:
        # Unrecoverable (no curve point for this r and recovery id).
        raise errors.invalid_signature("signature does not recover a public key") from None


def _encode_utf8(message: str) -> bytes:
    try:
        return message.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.invalid_signature("message is not valid UTF-8") from None


def _key_forms(key: PublicKey) -> tuple[bytes, bytes]:
    return key.format(compressed=True), key.format(compressed=False)


def _check_claimed_key(claimed: bytes | None, forms: tuple[bytes, bytes]) -> None:
    if claimed is not None and claimed not in forms:
        raise errors.invalid_signature("public key does not match the signature")


def _stacks_key_matches(wallet: WalletAddress, key: PublicKey) -> tuple[bytes, bytes] | None:
    forms = _key_forms(key)
    if stacks.hash160(forms[0]) == wallet.hash160 or stacks.hash160(forms[1]) == wallet.hash160:
        return forms
    return None


def _verify_stacks(
    wallet: WalletAddress, message: bytes, signature: RecoverableSignature, claimed: bytes | None
) -> None:
    # stacks.js tries the current prefix, then the legacy one.
    for legacy in (False, True):
        digest = stacks.hash_message(message, legacy=legacy)
        try:
            key = recover_public_key(signature, digest)
        except errors.ApiError:
            continue
        forms = _stacks_key_matches(wallet, key)
        if forms is not None:
            _check_claimed_key(claimed, forms)
            return
    raise errors.invalid_signature("signature does not match the wallet address")


def _verify_evm(
    wallet: WalletAddress, message: bytes, signature: RecoverableSignature, claimed: bytes | None
) -> None:
    key = recover_public_key(signature, evm.hash_message(message))
    forms = _key_forms(key)
    if "0x" + evm.address_bytes_from_public_key(forms[1]).hex() != wallet.canonical:
        raise errors.invalid_signature("signature does not match the wallet address")
    _check_claimed_key(claimed, forms)


def verify_message_signature(
    wallet: WalletAddress, message: str, signature_hex: str, public_key_hex: str | None = None
) -> None:
    """Check that `wallet` signed exactly `message`; raise 401 INVALID_SIGNATURE if not."""
    signature = parse_signature(signature_hex)
    claimed = None if public_key_hex is None else parse_public_key(public_key_hex)
    if not isinstance(message, str):
        raise errors.invalid_signature("message must be a string")
    data = _encode_utf8(message)
    if wallet.chain == Chain.STACKS:
        _verify_stacks(wallet, data, signature, claimed)
    else:
        _verify_evm(wallet, data, signature, claimed)
