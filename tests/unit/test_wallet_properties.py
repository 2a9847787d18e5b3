"""Properties: what our signers sign, our verifier accepts; any change is refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.errors import ApiError, ErrorCode
from gateway.wallets import evm, parse_wallet_address, stacks, verify_message_signature
from gateway.wallets.recover import SECP256K1_N
from gateway.wallets.signing import EvmSigner, Signer, StacksSigner, load_signer
from tests.support.errors import raises_api_error

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Byte lengths where the Stacks CompactSize widens (1 -> 3 -> 5 bytes).
VARINT_EDGES = [0, 1, 252, 253, 254, 65_535, 65_536, 65_537]

secrets = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))


def _padded_to(prefix: str, size: int) -> str:
    """`prefix` (any Unicode) padded with ASCII to exactly `size` UTF-8 bytes when it fits."""
    return prefix + "a" * max(0, size - len(prefix.encode()))


messages = st.one_of(
    st.text(max_size=200),
    st.builds(_padded_to, st.text(max_size=8), st.sampled_from(VARINT_EDGES)),
)


def _stacks_signer(secret: bytes, compressed: bool, network: str) -> StacksSigner:
    key_hex = secret.hex() + ("01" if compressed else "")
    return StacksSigner(key_hex, network=network)


signers: st.SearchStrategy[Signer] = st.one_of(
    st.builds(_stacks_signer, secrets, st.booleans(), st.sampled_from(["mainnet", "testnet"])),
    st.builds(lambda secret: EvmSigner(secret.hex()), secrets),
)


def _refused(wallet_text: str, message: str, signature: str) -> ApiError:
    with raises_api_error() as exc_info:
        verify_message_signature(parse_wallet_address(wallet_text), message, signature)
    return exc_info.value


@PROPERTY_SETTINGS
@given(signer=signers, message=messages)
def test_what_our_signer_signs_our_verifier_accepts(signer: Signer, message: str) -> None:
    wallet = parse_wallet_address(signer.address)
    signature = signer.sign(message)
    verify_message_signature(wallet, message, signature)
    verify_message_signature(wallet, message, signature, signer.public_key_hex)


@PROPERTY_SETTINGS
@given(signer=signers, message=messages, data=st.data())
def test_changed_message_is_refused(signer: Signer, message: str, data: st.DataObject) -> None:
    other = data.draw(messages.filter(lambda m: m != message), label="other message")
    error = _refused(signer.address, other, signer.sign(message))
    assert error.code == ErrorCode.INVALID_SIGNATURE


@PROPERTY_SETTINGS
@given(signer=signers, message=messages, index=st.integers(0, 64), bit=st.integers(0, 7))
def test_flipped_signature_bit_is_refused(
    signer: Signer, message: str, index: int, bit: int
) -> None:
    raw = bytearray(bytes.fromhex(signer.sign(message).removeprefix("0x")))
    raw[index] ^= 1 << bit
    error = _refused(signer.address, message, raw.hex())
    assert error.code == ErrorCode.INVALID_SIGNATURE


@PROPERTY_SETTINGS
@given(
    secret=secrets,
    other_secret=secrets,
    chain=st.sampled_from(["stacks", "evm"]),
    message=messages,
)
def test_signature_of_another_key_is_refused(
    secret: bytes, other_secret: bytes, chain: str, message: str
) -> None:
    assume(secret != other_secret)
    signer = load_signer(secret.hex(), chain=chain)
    other = load_signer(other_secret.hex(), chain=chain)
    error = _refused(signer.address, message, other.sign(message))
    assert error.code == ErrorCode.INVALID_SIGNATURE


@pytest.mark.parametrize(
    ("size", "encoded"),
    [
        (0, "00"),
        (252, "fc"),
        (253, "fdfd00"),
        (65_535, "fdffff"),
        (65_536, "fe00000100"),
        (0xFFFF_FFFF, "feffffffff"),
        (0x1_0000_0000, "ff0000000001000000"),
    ],
)
def test_compact_size_widens_at_bitcoin_boundaries(size: int, encoded: str) -> None:
    assert stacks.compact_size(size).hex() == encoded


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=40))
def test_c32_decode_inverts_encode(data: bytes) -> None:
    assert stacks.c32_decode(stacks.c32_encode(data)) == data


@PROPERTY_SETTINGS
@given(
    version=st.sampled_from([22, 26]),
    hash160=st.binary(min_size=20, max_size=20),
    look_alikes=st.booleans(),
)
def test_stacks_address_parses_in_any_case_and_with_look_alikes(
    version: int, hash160: bytes, look_alikes: bool
) -> None:
    address = stacks.c32check_address(version, hash160)
    typed = address.lower()
    if look_alikes:
        typed = typed.replace("0", "o").replace("1", "l")
    wallet = parse_wallet_address(f"  {typed}\n")
    assert (wallet.canonical, wallet.display, wallet.version, wallet.hash160) == (
        address,
        typed,
        version,
        hash160,
    )


@PROPERTY_SETTINGS
@given(body=st.binary(min_size=20, max_size=20))
def test_eip55_checksum_round_trips(body: bytes) -> None:
    checksummed = evm.to_checksum_address("0x" + body.hex())
    assert evm.has_valid_checksum(checksummed)
    assert parse_wallet_address(checksummed).canonical == "0x" + body.hex()
