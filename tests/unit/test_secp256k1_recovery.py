"""Our direct recovery against coincurve's own wrapper: the same key, or both refuse."""

from __future__ import annotations

import hashlib

import pytest
from coincurve import PrivateKey, PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.wallets.recover import SECP256K1_N
from gateway.wallets.secp256k1 import RecoveryFailed, recover

SETTINGS = settings(max_examples=300, deadline=None)

secrets = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32)


def _library(signature: bytes, digest: bytes) -> PublicKey | None:
    try:
        return PublicKey.from_signature_and_message(signature, digest, hasher=None)
    except ValueError:
        return None


def _ours(signature: bytes, digest: bytes) -> tuple[bytes, bytes] | None:
    try:
        key = recover(signature, digest)
    except RecoveryFailed:
        return None
    return key.format(compressed=True), key.format(compressed=False)


def _same_as_library(signature: bytes, digest: bytes) -> tuple[bytes, bytes] | None:
    theirs = _library(signature, digest)
    ours = _ours(signature, digest)
    if theirs is None:
        assert ours is None
    else:
        assert ours == (theirs.format(compressed=True), theirs.format(compressed=False))
    return ours


@SETTINGS
@given(secrets, digests)
def test_a_real_signature_recovers_its_signer(secret: bytes, digest: bytes) -> None:
    private = PrivateKey(secret)
    signature = private.sign_recoverable(digest, hasher=None)
    ours = _same_as_library(signature, digest)
    assert ours == (private.public_key.format(True), private.public_key.format(False))


@SETTINGS
@given(secrets, digests)
def test_the_high_s_twin_recovers_the_same_key(secret: bytes, digest: bytes) -> None:
    # (r, n - s) with the other recovery parity is the malleated twin: libsecp256k1
    # recovers the same key from it, so the replay guard must not key on signatures.
    signature = PrivateKey(secret).sign_recoverable(digest, hasher=None)
    s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((signature[64] ^ 1,))
    assert _same_as_library(twin, digest) == _ours(signature, digest)


@SETTINGS
@given(st.binary(min_size=64, max_size=64), st.integers(0, 3), digests)
def test_arbitrary_bytes_agree_with_the_library(rs: bytes, recid: int, digest: bytes) -> None:
    # Mostly unrecoverable or out-of-range r/s; whatever happens, the same as coincurve.
    _same_as_library(rs + bytes((recid,)), digest)


@pytest.mark.parametrize(
    ("signature", "digest"),
    [
        (bytes(64) + b"\x00", bytes(32)),  # r = s = 0
        (SECP256K1_N.to_bytes(32, "big") * 2 + b"\x00", bytes(32)),  # r = s = n
        (b"\x01" * 64 + b"\x04", bytes(32)),  # recovery id out of range
        (b"\x01" * 65, bytes(31)),  # digest too short
        (b"\x01" * 64, bytes(32)),  # signature too short
    ],
)
def test_bad_shapes_are_refused_as_the_library_refuses(signature: bytes, digest: bytes) -> None:
    with pytest.raises(RecoveryFailed):
        recover(signature, digest)
    assert _library(signature, digest) is None


def test_each_form_is_serialized_once() -> None:
    digest = hashlib.sha256(b"walletgate").digest()
    key = recover(PrivateKey(b"\x07" * 32).sign_recoverable(digest, hasher=None), digest)
    assert key.format(compressed=True) is key.format(compressed=True)
    assert key.format(compressed=False) is key.format(compressed=False)
