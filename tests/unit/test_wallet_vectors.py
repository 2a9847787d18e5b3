"""Published and reference-library vectors: every one verifies,
every mutation of one is refused with a 4xx error and nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import ErrorCode
from gateway.wallets import (
    Chain,
    SignatureVerifier,
    SignedMessage,
    evm,
    parse_wallet_address,
    stacks,
    verify_message_signature,
)
from gateway.wallets.replay import MemoryReplayGuard
from gateway.wallets.signing import load_signer
from tests.support.errors import Refusal, raises_api_error

# The published vectors travel with the tests.
_VECTOR_FILES = (Path(__file__).resolve().parents[1] / "vectors" / "signatures.json",)

# The worked examples of docs/signing.md, written out so the document and the code agree.
DOC_VECTORS: list[dict[str, Any]] = [
    {
        "chain": "stacks",
        "network": "mainnet",
        "prefix": "current",
        "privateKey": "7b9f0a6ad0de8f5aa7d3b3f0e3fe2b1bce0c2b3c1f5a1f8a2c5e54c2c1f3a90b01",
        "publicKey": "0296c064d23931042b1a5964d317dad07c1172861ecd2a41ca35248b856b31641f",
        "address": "SP3JXHVKQEEFMSC7789MYGGV6PF0DVVY3EKMGGCM3",
        "message": '{"action":"create_api_key","keyName":"My Trading Bot",'
        '"permissions":["create","execute","cancel"],"timestamp":1705312800000}',
        "signature": "37c4d294cdd5e4345df18ced7671fe8ec3e1ae1d294d40490932138afc38be3f"
        "2d9930a216ccf0412fa1739b82d4e9c0e97a47e25e4e471c0b1fab3037ee06b301",
    },
    {
        "chain": "stacks",
        "network": "mainnet",
        "prefix": "current",
        "privateKey": "7b9f0a6ad0de8f5aa7d3b3f0e3fe2b1bce0c2b3c1f5a1f8a2c5e54c2c1f3a90b01",
        "publicKey": "0296c064d23931042b1a5964d317dad07c1172861ecd2a41ca35248b856b31641f",
        "address": "SP3JXHVKQEEFMSC7789MYGGV6PF0DVVY3EKMGGCM3",
        "message": '{"action":"list_api_keys","timestamp":1705312800000}',
        "signature": "39c54491622b8842d87e251809572e954cedc5381d5a23565a9dfb2f67eaa422"
        "55a512ff38b9907d5081fcce0e4e2bf877557c0be122f78983d03eb4e0bfb45100",
    },
    {
        "chain": "stacks",
        "network": "testnet",
        "prefix": "current",
        "privateKey": None,
        "publicKey": "024cce41b91566d70ec2ed6eb161c6ef9c277bdc034738318ed06f1d5ba09546d6",
        "address": "STGSJA8EMYDBAJDX6Z4ED8CWW071B6NB97SRAM1E",
        "message": "You are saying that you want to perform action XYZ.",
        "signature": "29ef6d718235e5fc32a1b90dd8fc7fa9403fa1b55c2dce46374570b7f3a4815d"
        "0215b8565f29a33ef8132dc0db6b00a5f13d85d6aff5c1171271818b9928928c01",
    },
    {
        "chain": "stacks",
        "network": "testnet",
        "prefix": "legacy",
        "privateKey": None,
        "publicKey": "024cce41b91566d70ec2ed6eb161c6ef9c277bdc034738318ed06f1d5ba09546d6",
        "address": "STGSJA8EMYDBAJDX6Z4ED8CWW071B6NB97SRAM1E",
        "message": "You are saying that you want to perform action XYZ.",
        "signature": "ab7d5f728dfc6daf0511bf292f981ae44c2ffb6f5fa1adf1db28580aeb941890"
        "3c28ddc87ede66ef4091c1df03ef4348b22de1f34b8581ab820d0d93a266115300",
    },
    {
        "chain": "evm",
        "network": None,
        "prefix": "current",
        "privateKey": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
        "publicKey": None,
        "address": "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
        "message": '{"action":"execute_order","timestamp":1705312800000,"uuid":"uuid-456def789"}',
        "signature": "0xfa87b9fbad1577d307bf4cde7601a81cb6b1701d4fc99d4604babfed171d89a0"
        "494c16c5baa67f6f7bf169a51780d2ed1a9c4585a745d9665af50252b45e47ae1b",
    },
]


def _load_file_vectors() -> list[dict[str, Any]]:
    for path in _VECTOR_FILES:
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))["vectors"]
    raise FileNotFoundError(f"signature vectors not found in {_VECTOR_FILES}")


FILE_VECTORS = _load_file_vectors()
ALL_VECTORS = DOC_VECTORS + FILE_VECTORS


def _vector_id(vector: dict[str, Any]) -> str:
    size = len(vector["message"].encode())
    return (
        f"{vector['chain']}-{vector['network']}-{vector['prefix']}-{size}B-{vector['address'][:8]}"
    )


def _json_fields(message: str) -> dict[str, Any] | None:
    try:
        fields = json.loads(message)
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


vectors = pytest.mark.parametrize("vector", ALL_VECTORS, ids=[_vector_id(v) for v in ALL_VECTORS])
json_vectors = pytest.mark.parametrize(
    "vector",
    [v for v in ALL_VECTORS if _json_fields(v["message"])],
    ids=[_vector_id(v) for v in ALL_VECTORS if _json_fields(v["message"])],
)

signable_vectors = pytest.mark.parametrize(
    "vector",
    [v for v in ALL_VECTORS if v["privateKey"]],
    ids=[_vector_id(v) for v in ALL_VECTORS if v["privateKey"]],
)


def _assert_refused(exc_info: Refusal) -> None:
    assert 400 <= exc_info.value.status < 500


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _message_mutations(message: str) -> Iterator[str]:
    data = message.encode()
    yield message + " "
    yield " " + message
    for index in sorted({0, len(data) // 2, len(data) - 1}):
        if data:
            mutated = _flip(data, index).decode("utf-8", errors="replace")
            if mutated != message:
                yield mutated


def test_vector_file_covers_the_documented_cases() -> None:
    sizes = {len(v["message"].encode()) for v in FILE_VECTORS}
    assert {0, 252, 253, 70_000} <= sizes
    assert {v["prefix"] for v in FILE_VECTORS} == {"current", "legacy"}
    assert {v["network"] for v in FILE_VECTORS if v["chain"] == "stacks"} == {"mainnet", "testnet"}
    assert {len(v["publicKey"]) for v in FILE_VECTORS if v["chain"] == "stacks"} == {66, 130}


@vectors
def test_vector_verifies(vector: dict[str, Any]) -> None:
    wallet = parse_wallet_address(vector["address"])
    assert wallet.chain == vector["chain"]
    verify_message_signature(wallet, vector["message"], vector["signature"])
    if vector["publicKey"]:
        verify_message_signature(
            wallet, vector["message"], vector["signature"], vector["publicKey"]
        )


@signable_vectors
def test_signer_reproduces_vector(vector: dict[str, Any]) -> None:
    signer = load_signer(
        vector["privateKey"], chain=vector["chain"], network=vector["network"] or "mainnet"
    )
    assert signer.address == vector["address"]
    if vector["chain"] == Chain.STACKS:
        assert signer.public_key_hex == vector["publicKey"]
    if vector["prefix"] == "current":
        assert signer.sign(vector["message"]) == vector["signature"]


@json_vectors
async def test_vector_is_admitted_once_by_the_verifier_at_its_own_time(
    vector: dict[str, Any],
) -> None:
    fields = _json_fields(vector["message"])
    assert fields is not None
    verifier = SignatureVerifier(
        replay=MemoryReplayGuard(), clock=lambda: fields["timestamp"] / 1000
    )
    signed = SignedMessage(vector["message"], vector["signature"], vector["address"])
    bound = {name: fields[name] for name in ("keyId", "uuid") if name in fields}
    verified = await verifier.verify(signed, action=fields["action"], bound=bound)
    assert verified.wallet == parse_wallet_address(vector["address"])
    assert dict(verified.fields) == fields
    with raises_api_error() as exc_info:
        await verifier.verify(signed, action=fields["action"], bound=bound)
    assert exc_info.value.code == ErrorCode.SIGNATURE_REPLAYED


@vectors
def test_vector_with_mutated_message_is_refused(vector: dict[str, Any]) -> None:
    wallet = parse_wallet_address(vector["address"])
    for message in _message_mutations(vector["message"]):
        with raises_api_error() as exc_info:
            verify_message_signature(wallet, message, vector["signature"])
        assert exc_info.value.code == ErrorCode.INVALID_SIGNATURE


@vectors
def test_vector_with_any_signature_byte_flipped_is_refused(vector: dict[str, Any]) -> None:
    wallet = parse_wallet_address(vector["address"])
    raw = bytes.fromhex(vector["signature"].removeprefix("0x"))
    for index in range(len(raw)):
        mutated = _flip(raw, index).hex()
        with raises_api_error() as exc_info:
            verify_message_signature(wallet, vector["message"], mutated)
        assert exc_info.value.code == ErrorCode.INVALID_SIGNATURE


@vectors
def test_vector_under_another_address_is_refused(vector: dict[str, Any]) -> None:
    address = vector["address"]
    for index in range(1, len(address)):
        replacement = "2" if address[index] != "2" else "3"
        mutated = address[:index] + replacement + address[index + 1 :]
        with raises_api_error() as exc_info:
            verify_message_signature(
                parse_wallet_address(mutated), vector["message"], vector["signature"]
            )
        _assert_refused(exc_info)
        assert exc_info.value.code in (ErrorCode.INVALID_WALLET, ErrorCode.INVALID_SIGNATURE)


@vectors
def test_vector_with_someone_elses_public_key_is_refused(vector: dict[str, Any]) -> None:
    wallet = parse_wallet_address(vector["address"])
    other = next(v["publicKey"] for v in ALL_VECTORS if v["address"] != vector["address"])
    with raises_api_error() as exc_info:
        verify_message_signature(wallet, vector["message"], vector["signature"], other)
    assert exc_info.value.code == ErrorCode.INVALID_SIGNATURE


def test_stacks_digests_match_stacks_js_for_both_prefixes() -> None:
    message = b"You are saying that you want to perform action XYZ."
    assert (
        stacks.hash_message(message).hex()
        == "650ff1a80ea3fab019b383d4385fcc52bb4d1cbce4713f3e95889013be3569a5"
    )
    assert (
        stacks.hash_message(message, legacy=True).hex()
        == "1a92e7334e5e0ffc9b5792e379895b829598bf16fe8a771dc724e8ebfb6ed5e9"
    )


def test_published_public_key_gives_published_testnet_address() -> None:
    pubkey = bytes.fromhex("024cce41b91566d70ec2ed6eb161c6ef9c277bdc034738318ed06f1d5ba09546d6")
    address = stacks.address_from_public_key(pubkey, stacks.TESTNET_SINGLESIG)
    assert address == "STGSJA8EMYDBAJDX6Z4ED8CWW071B6NB97SRAM1E"


@pytest.mark.parametrize(
    ("version", "hash160_hex", "address"),
    [
        (
            22,
            "a46ff88886c2ef9762d970b4d2c63678835bd39d",
            "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7",
        ),
        (
            26,
            "a46ff88886c2ef9762d970b4d2c63678835bd39d",
            "ST2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKQYAC0RQ",
        ),
        (22, "00" * 20, "SP000000000000000000002Q6VF78"),
    ],
)
def test_c32check_vectors(version: int, hash160_hex: str, address: str) -> None:
    assert stacks.c32check_address(version, bytes.fromhex(hash160_hex)) == address
    assert stacks.c32check_decode_address(address) == (version, bytes.fromhex(hash160_hex))
    wallet = parse_wallet_address(address)
    assert (wallet.version, wallet.hash160, wallet.canonical) == (
        version,
        bytes.fromhex(hash160_hex),
        address,
    )


def test_keccak256_is_not_sha3_256() -> None:
    assert (
        evm.keccak256(b"").hex()
        == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


EIP55_CHECKSUMMED = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
]


@pytest.mark.parametrize("address", EIP55_CHECKSUMMED)
def test_eip55_checksum_of_published_addresses(address: str) -> None:
    assert evm.to_checksum_address(address.lower()) == address
    assert evm.to_checksum_address("0x" + address[2:].upper()) == address
    wallet = parse_wallet_address(address)
    assert (wallet.canonical, wallet.display) == (address.lower(), address)


@pytest.mark.parametrize(
    "address",
    [
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
    ],
)
def test_single_case_evm_addresses_need_no_checksum(address: str) -> None:
    assert parse_wallet_address(address).canonical == address.lower()


@pytest.mark.parametrize("address", EIP55_CHECKSUMMED)
def test_mixed_case_evm_address_with_wrong_checksum_is_invalid_wallet(address: str) -> None:
    index = next(i for i, c in enumerate(address) if i > 1 and c.isalpha())
    mutated = address[:index] + address[index].swapcase() + address[index + 1 :]
    with raises_api_error() as exc_info:
        parse_wallet_address(mutated)
    assert (exc_info.value.status, exc_info.value.code) == (400, ErrorCode.INVALID_WALLET)
