"""SignatureVerifier: a signed message is admitted once, for its action, its
bound fields, its wallet and its time, and everything else is a 4xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from coincurve import PublicKey
from multidict import CIMultiDict

from gateway.errors import ApiError, ErrorCode
from gateway.http.errors import REFUSALS, api_error
from gateway.order_spec import CANONICAL_JSON, CANONICAL_JSON_SPEC
from gateway.wallets import (
    SignatureVerifier,
    SignedMessage,
    canonical_order_message,
    read_signed_message,
    stacks,
    verify_message_signature,
)
from gateway.wallets.address import parse_wallet_address
from gateway.wallets.order_schemes import compile_scheme
from gateway.wallets.order_verify import OrderVerifier
from gateway.wallets.recover import SECP256K1_N
from gateway.wallets.replay import MemoryReplayGuard
from gateway.wallets.signing import (
    EvmSigner,
    Signer,
    StacksSigner,
    sign_order,
    signed_body,
    signed_headers,
)
from tests.support.errors import raises_api_error

NOW_MS = 1_760_000_000_000
MAX_AGE_S = 300

STACKS = StacksSigner("11" * 32 + "01")
STACKS_UNCOMPRESSED_TESTNET = StacksSigner("22" * 32, network="testnet")
EVM = EvmSigner("0x" + "a0" * 32)
OTHER_STACKS = StacksSigner("33" * 32 + "01")
SIGNERS = [STACKS, STACKS_UNCOMPRESSED_TESTNET, EVM]
each_signer = pytest.mark.parametrize("signer", SIGNERS, ids=["stacks", "stacks-65", "evm"])

Observed = list[tuple[str, str]]


def make_verifier(
    observed: Observed | None = None, now_ms: int = NOW_MS, **options: Any
) -> SignatureVerifier:
    def observe(chain: str, outcome: str) -> None:
        if observed is not None:
            observed.append((chain, outcome))

    return SignatureVerifier(
        replay=MemoryReplayGuard(),
        max_age_s=MAX_AGE_S,
        clock=lambda: now_ms / 1000,
        observe=observe,
        **options,
    )


@pytest.fixture
def observed() -> Observed:
    return []


@pytest.fixture
def verifier(observed: Observed) -> SignatureVerifier:
    return make_verifier(observed)


def signed(
    signer: Signer, action: str, fields: dict[str, Any] | None = None, now_ms: int = NOW_MS
) -> SignedMessage:
    message = read_signed_message(signed_body(signer, action, fields, now_ms=now_ms), {})
    assert message is not None
    return message


def signed_raw(signer: Signer, message: str, wallet: str | None = None) -> SignedMessage:
    return SignedMessage(message, signer.sign(message), wallet or signer.address)


def with_signature(message: SignedMessage, signature: str) -> SignedMessage:
    return SignedMessage(message.message, signature, message.wallet_address, message.public_key)


async def refused(
    verifier: SignatureVerifier,
    message: SignedMessage,
    action: str = "list_api_keys",
    bound: dict[str, Any] | None = None,
) -> ApiError:
    with raises_api_error() as exc_info:
        await verifier.verify(message, action=action, bound=bound or {})
    assert 400 <= exc_info.value.status < 500
    return exc_info.value


def malleated(signature: str) -> str:
    """(r, n - s) with the recovery parity flipped: the same key, other bytes."""
    raw = bytes.fromhex(signature.removeprefix("0x"))
    s = SECP256K1_N - int.from_bytes(raw[32:64], "big")
    v = 55 - raw[64] if raw[64] >= 27 else raw[64] ^ 1
    twin = raw[:32] + s.to_bytes(32, "big") + bytes([v])
    return ("0x" if signature.startswith("0x") else "") + twin.hex()


def other_v_encoding(signature: str) -> str:
    raw = bytes.fromhex(signature.removeprefix("0x"))
    v = raw[64] - 27 if raw[64] >= 27 else raw[64] + 27
    return (raw[:64] + bytes([v])).hex().upper()


# -- admitted once ---------------------------------------------------------------------------


@each_signer
async def test_signed_message_is_admitted_with_its_fields(
    verifier: SignatureVerifier, signer: Signer
) -> None:
    message = signed(signer, "delete_api_key", {"keyId": "key_0123456789abcdef"})
    verified = await verifier.verify(
        message, action="delete_api_key", bound={"keyId": "key_0123456789abcdef"}
    )
    assert verified.wallet == parse_wallet_address(signer.address)
    assert verified.wallet.display == signer.address
    assert verified.fields == {
        "action": "delete_api_key",
        "keyId": "key_0123456789abcdef",
        "timestamp": NOW_MS,
    }


@each_signer
async def test_same_message_twice_is_replayed(verifier: SignatureVerifier, signer: Signer) -> None:
    message = signed(signer, "list_api_keys")
    await verifier.verify(message, action="list_api_keys")
    error = await refused(verifier, message)
    assert (error.status, error.code, error.message) == (
        401,
        ErrorCode.SIGNATURE_REPLAYED,
        "Signature already used",
    )


@each_signer
async def test_malleated_twin_of_used_signature_is_replayed(
    verifier: SignatureVerifier, signer: Signer
) -> None:
    message = signed(signer, "list_api_keys")
    twin = malleated(message.signature)
    assert twin != message.signature
    verify_message_signature(parse_wallet_address(signer.address), message.message, twin)
    await verifier.verify(message, action="list_api_keys")
    error = await refused(verifier, with_signature(message, twin))
    assert error.code == ErrorCode.SIGNATURE_REPLAYED


@each_signer
async def test_same_message_in_another_encoding_is_replayed(
    verifier: SignatureVerifier, signer: Signer
) -> None:
    message = signed(signer, "list_api_keys")
    await verifier.verify(message, action="list_api_keys")
    for signature in (other_v_encoding(message.signature), "0x" + message.signature[-130:]):
        error = await refused(verifier, with_signature(message, signature))
        assert error.code == ErrorCode.SIGNATURE_REPLAYED


async def test_address_typed_differently_is_the_same_replay_entry(
    verifier: SignatureVerifier,
) -> None:
    message = signed(STACKS, "list_api_keys")
    await verifier.verify(message, action="list_api_keys")
    retyped = SignedMessage(message.message, message.signature, STACKS.address.lower())
    error = await refused(verifier, retyped)
    assert error.code == ErrorCode.SIGNATURE_REPLAYED


async def test_same_text_from_two_wallets_is_admitted_for_each(
    verifier: SignatureVerifier,
) -> None:
    text = json.dumps({"action": "list_api_keys", "timestamp": NOW_MS})
    await verifier.verify(signed_raw(STACKS, text), action="list_api_keys")
    await verifier.verify(signed_raw(OTHER_STACKS, text), action="list_api_keys")


async def test_refused_request_does_not_burn_the_message(verifier: SignatureVerifier) -> None:
    message = signed(EVM, "delete_api_key", {"keyId": "key_a"})
    forged = with_signature(message, OTHER_STACKS.sign(message.message))
    await refused(verifier, forged, "delete_api_key", {"keyId": "key_a"})
    await refused(verifier, message, "delete_api_key", {"keyId": "key_b"})
    await refused(verifier, message, "rotate_api_key", {"keyId": "key_a"})
    await verifier.verify(message, action="delete_api_key", bound={"keyId": "key_a"})


# -- bound to its action, fields and wallet ---------------------------------------------------


async def test_message_for_another_action_is_invalid_message(verifier: SignatureVerifier) -> None:
    error = await refused(verifier, signed(STACKS, "list_api_keys"), "delete_api_key")
    assert (error.status, error.code, error.message) == (
        400,
        ErrorCode.INVALID_MESSAGE,
        'Invalid signed message: action must be "delete_api_key"',
    )


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ("get_api_key", "keyId"),
        ("delete_api_key", "keyId"),
        ("rotate_api_key", "keyId"),
        ("execute_order", "uuid"),
        ("cancel_order", "uuid"),
    ],
)
async def test_message_for_another_key_or_order_is_invalid_signature(
    verifier: SignatureVerifier, action: str, field: str
) -> None:
    for message in (signed(EVM, action, {field: "another"}), signed(EVM, action, {})):
        error = await refused(verifier, message, action, {field: "signed-for-this"})
        assert (error.status, error.code) == (401, ErrorCode.INVALID_SIGNATURE)
        assert field in error.details["reason"]


async def test_bound_fields_compare_strictly(verifier: SignatureVerifier) -> None:
    message = signed(STACKS, "create_api_key", {"keyName": "bot", "permissions": ["create"]})
    for bound in ({"permissions": ["create", "execute"]}, {"keyName": 1}):
        error = await refused(verifier, message, "create_api_key", bound)
        assert error.code == ErrorCode.INVALID_SIGNATURE
    await verifier.verify(
        message, action="create_api_key", bound={"keyName": "bot", "permissions": ["create"]}
    )


@each_signer
async def test_signature_presented_for_another_wallet_is_invalid_signature(
    verifier: SignatureVerifier, signer: Signer
) -> None:
    message = signed(signer, "list_api_keys")
    for wallet in (OTHER_STACKS.address, EvmSigner("0x" + "b0" * 32).address):
        error = await refused(verifier, SignedMessage(message.message, message.signature, wallet))
        assert (error.status, error.code) == (401, ErrorCode.INVALID_SIGNATURE)
    await verifier.verify(message, action="list_api_keys")


async def test_disabled_chain_is_invalid_wallet() -> None:
    verifier = make_verifier(chains=("evm",))
    error = await refused(verifier, signed(STACKS, "list_api_keys"))
    assert (error.status, error.code) == (400, ErrorCode.INVALID_WALLET)
    assert error.details["reason"] == "stacks wallets are not enabled"


# -- time window ------------------------------------------------------------------------------


@pytest.mark.parametrize("offset_ms", [-MAX_AGE_S * 1000, -1, 0, 1, MAX_AGE_S * 1000])
async def test_timestamp_inside_window_is_admitted(offset_ms: int) -> None:
    message = signed(EVM, "list_api_keys", now_ms=NOW_MS + offset_ms)
    await make_verifier().verify(message, action="list_api_keys")


@pytest.mark.parametrize("offset_ms", [-MAX_AGE_S * 1000 - 1, MAX_AGE_S * 1000 + 1, -NOW_MS])
async def test_timestamp_outside_window_is_expired(offset_ms: int) -> None:
    message = signed(STACKS, "list_api_keys", now_ms=NOW_MS + offset_ms)
    verifier = make_verifier()
    error = await refused(verifier, message)
    assert (error.status, error.code, error.message) == (
        401,
        ErrorCode.SIGNATURE_EXPIRED,
        "Signature expired",
    )


async def test_message_expires_as_the_clock_moves() -> None:
    now = [NOW_MS]
    message = signed(STACKS, "list_api_keys")
    verifier = SignatureVerifier(
        replay=MemoryReplayGuard(), max_age_s=MAX_AGE_S, clock=lambda: now[0] / 1000
    )
    now[0] += MAX_AGE_S * 1000 + 1
    error = await refused(verifier, message)
    assert error.code == ErrorCode.SIGNATURE_EXPIRED


@pytest.mark.parametrize(
    ("timestamp", "code"),
    [
        (str(NOW_MS), ErrorCode.INVALID_MESSAGE),
        (float(NOW_MS), ErrorCode.INVALID_MESSAGE),
        (True, ErrorCode.INVALID_MESSAGE),
        (None, ErrorCode.INVALID_MESSAGE),
        ([NOW_MS], ErrorCode.INVALID_MESSAGE),
        (10**30, ErrorCode.SIGNATURE_EXPIRED),
        (-(10**30), ErrorCode.SIGNATURE_EXPIRED),
        (NOW_MS // 1000, ErrorCode.SIGNATURE_EXPIRED),
    ],
    ids=["string", "float", "bool", "null", "list", "huge", "negative", "seconds"],
)
async def test_timestamp_of_wrong_type_or_scale_is_refused(
    verifier: SignatureVerifier, timestamp: Any, code: ErrorCode
) -> None:
    text = json.dumps({"action": "list_api_keys", "timestamp": timestamp})
    error = await refused(verifier, signed_raw(EVM, text))
    assert error.code == code


class RecordingGuard(MemoryReplayGuard):
    def __init__(self) -> None:
        super().__init__()
        self.ttls: list[float] = []

    async def first_use(self, key: bytes, ttl_s: float) -> bool:
        self.ttls.append(ttl_s)
        return await super().first_use(key, ttl_s)


@pytest.mark.parametrize(
    ("age_ms", "ttl_s"),
    [(0, MAX_AGE_S + 1), (100_000, MAX_AGE_S - 100 + 1), (-(MAX_AGE_S * 1000), 2 * MAX_AGE_S)],
    ids=["fresh", "100s-old", "from-the-future"],
)
async def test_a_message_is_remembered_until_its_timestamp_leaves_the_window(
    age_ms: int, ttl_s: float
) -> None:
    guard = RecordingGuard()
    verifier = SignatureVerifier(replay=guard, max_age_s=MAX_AGE_S, clock=lambda: NOW_MS / 1000)
    await verifier.verify(
        signed(STACKS, "list_api_keys", now_ms=NOW_MS - age_ms), action="list_api_keys"
    )
    assert guard.ttls == [pytest.approx(ttl_s)]


# -- malformed input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "",
        "not json",
        "[1, 2]",
        '"list_api_keys"',
        "42",
        "null",
        "{}",
        f'{{"timestamp": {NOW_MS}}}',
        f'{{"action": ["list_api_keys"], "timestamp": {NOW_MS}}}',
        f'{{"action": "list_api_keys", "action": "list_api_keys", "timestamp": {NOW_MS}}}',
        f'{{"action": "list_api_keys", "timestamp": {NOW_MS}}}x',
        f'{{"action": "list_api_keys", "timestamp": {NOW_MS}}}}}',
        "{action: list_api_keys}",
        f'{{"action": "list_api_keys", "timestamp": {NOW_MS}, "x": {{"a": 1, "a": 2}}}}',
        '{"action": "list_api_keys", "timestamp": 1' + "0" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        f'{{"action": "list_api_keys", "timestamp": {NOW_MS}, "pad": "{"x" * 10_000_000}"}}',
        f'{{"action": "list_api_keys\ud800", "timestamp": {NOW_MS}}}',
    ],
    ids=[
        "empty",
        "not-json",
        "array",
        "string",
        "number",
        "null",
        "no-action",
        "no-action-field",
        "action-not-string",
        "duplicate-field",
        "trailing-garbage",
        "trailing-brace",
        "braced-garbage",
        "nested-duplicate-field",
        "5000-digit-timestamp",
        "deep-nesting",
        "10MB",
        "lone-surrogate",
    ],
)
async def test_malformed_message_is_invalid_message(
    verifier: SignatureVerifier, observed: Observed, message: str
) -> None:
    signature = EVM.sign(message) if message.isascii() else "00" * 65
    error = await refused(verifier, SignedMessage(message, signature, EVM.address))
    assert (error.status, error.code) == (400, ErrorCode.INVALID_MESSAGE)
    assert error.message.startswith("Invalid signed message: ")
    assert observed == [("evm", "invalid_message")]


def _signature(r: int, s: int, v: int) -> str:
    return (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])).hex()


VALID_R_S = (0x1234, 0x5678)

MALFORMED_SIGNATURES = {
    "empty": "",
    "0x-only": "0x",
    "non-hex": "zz" * 65,
    "odd-length": "0" * 129,
    "64-bytes": "11" * 64,
    "66-bytes": "11" * 66,
    "spaces": "11 " * 43 + "1",
    "inner-0x": "11" * 32 + "0x" + "11" * 32,
    "unicode-digits": "\u0661" * 130,
    "10MB": "ab" * 5_000_000,
    "r-zero": _signature(0, VALID_R_S[1], 0),
    "s-zero": _signature(VALID_R_S[0], 0, 0),
    "s-equals-n": _signature(VALID_R_S[0], SECP256K1_N, 1),
    "r-above-n": _signature(2**256 - 1, VALID_R_S[1], 1),
    "recid-4": _signature(*VALID_R_S, 4),
    "v-26": _signature(*VALID_R_S, 26),
    "v-31": _signature(*VALID_R_S, 31),
    "v-255": _signature(*VALID_R_S, 255),
    "unrecoverable": _signature(*VALID_R_S, 3),
    "trailing-newline": "11" * 65 + "\n",
}


@pytest.mark.parametrize("signature", MALFORMED_SIGNATURES.values(), ids=MALFORMED_SIGNATURES)
@each_signer
async def test_malformed_signature_is_invalid_signature(
    verifier: SignatureVerifier, signer: Signer, signature: str
) -> None:
    message = signed(signer, "list_api_keys")
    error = await refused(verifier, with_signature(message, signature))
    assert (error.status, error.code, error.message) == (
        401,
        ErrorCode.INVALID_SIGNATURE,
        "Invalid signature",
    )
    await verifier.verify(message, action="list_api_keys")


def _swap_first_letter(address: str) -> str:
    index = next(i for i, char in enumerate(address) if i > 1 and char.isalpha())
    return address[:index] + address[index].swapcase() + address[index + 1 :]


MALFORMED_WALLETS = {
    "empty": "",
    "blank": "   ",
    "10MB": "S" * 10_000_000,
    "not-an-address": "hello",
    "bad-checksum": STACKS.address[:-1] + ("0" if STACKS.address[-1] != "0" else "1"),
    "multisig": stacks.c32check_address(stacks.MAINNET_MULTISIG, b"\x01" * 20),
    "testnet-multisig": stacks.c32check_address(stacks.TESTNET_MULTISIG, b"\x01" * 20),
    "unknown-version": stacks.c32check_address(0, b"\x01" * 20),
    "c32-bad-char": "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ!",
    "long-s": "\u017f" + STACKS.address[1:],
    "evm-short": "0x1234",
    "evm-non-hex": "0x" + "g" * 40,
    "evm-bad-checksum": _swap_first_letter(EVM.address),
    "evm-0X": "0X" + EVM.address[2:],
}


@pytest.mark.parametrize("wallet", MALFORMED_WALLETS.values(), ids=MALFORMED_WALLETS)
async def test_malformed_wallet_is_invalid_wallet(
    verifier: SignatureVerifier, observed: Observed, wallet: str
) -> None:
    message = signed(STACKS, "list_api_keys")
    error = await refused(verifier, SignedMessage(message.message, message.signature, wallet))
    assert (error.status, error.code, error.message) == (
        400,
        ErrorCode.INVALID_WALLET,
        "Invalid wallet address",
    )
    assert observed == [("unknown", "invalid_wallet")]


def test_multisig_address_is_refused_with_its_reason() -> None:
    with raises_api_error() as exc_info:
        parse_wallet_address(MALFORMED_WALLETS["multisig"])
    assert exc_info.value.details["reason"] == "multisig addresses cannot sign messages"


@pytest.mark.parametrize("signer", [STACKS, STACKS_UNCOMPRESSED_TESTNET], ids=["33", "65"])
async def test_public_key_in_either_form_is_accepted(
    verifier: SignatureVerifier, signer: StacksSigner
) -> None:
    wallet = parse_wallet_address(signer.address)
    message = signed(signer, "list_api_keys")
    other_form = _other_form(signer.public_key_hex)
    for key in (signer.public_key_hex, other_form, "0x" + other_form):
        verify_message_signature(wallet, message.message, message.signature, key)
    sent = SignedMessage(message.message, message.signature, signer.address, other_form)
    await verifier.verify(sent, action="list_api_keys")


def _other_form(public_key_hex: str) -> str:
    key = PublicKey(bytes.fromhex(public_key_hex))
    return key.format(compressed=len(public_key_hex) != 66).hex()


@pytest.mark.parametrize(
    "public_key",
    [OTHER_STACKS.public_key_hex, "02" + "ff" * 32, "02" + "11" * 31, "zz" * 33, "04" * 2000],
    ids=["other-key", "off-curve", "short", "non-hex", "long"],
)
async def test_public_key_that_is_not_the_signer_is_invalid_signature(
    verifier: SignatureVerifier, public_key: str
) -> None:
    message = signed(STACKS, "list_api_keys")
    sent = SignedMessage(message.message, message.signature, STACKS.address, public_key)
    error = await refused(verifier, sent)
    assert error.code == ErrorCode.INVALID_SIGNATURE


async def test_each_outcome_is_observed_with_its_chain(
    verifier: SignatureVerifier, observed: Observed
) -> None:
    stacks_message = signed(STACKS, "list_api_keys")
    await verifier.verify(stacks_message, action="list_api_keys")
    await refused(verifier, stacks_message)
    await refused(verifier, signed(EVM, "list_api_keys", now_ms=0))
    await refused(verifier, with_signature(signed(EVM, "list_api_keys"), "00" * 65))
    assert observed == [
        ("stacks", "valid"),
        ("stacks", "replayed"),
        ("evm", "expired"),
        ("evm", "invalid"),
    ]


# -- where the signature is read from -----------------------------------------------------------


def test_body_form_is_read() -> None:
    body = signed_body(STACKS, "list_api_keys", now_ms=NOW_MS) | {"publicKey": "02ab"}
    assert read_signed_message(body, {}) == SignedMessage(
        body["message"], body["signature"], body["walletAddress"], "02ab"
    )


@pytest.mark.parametrize("case", [str, str.lower, str.upper], ids=["as-sent", "lower", "upper"])
@pytest.mark.parametrize("mapping", [dict, CIMultiDict], ids=["dict", "multidict"])
def test_header_form_is_read_in_any_case(
    case: Callable[[str], str], mapping: Callable[[dict[str, str]], Any]
) -> None:
    headers = signed_headers(EVM, "list_api_keys", now_ms=NOW_MS) | {"X-Public-Key": "04ab"}
    received = mapping({case(name): value for name, value in headers.items()})
    assert read_signed_message(None, received) == SignedMessage(
        headers["X-Message"], headers["X-Signature"], headers["X-Wallet-Address"], "04ab"
    )


def test_an_empty_public_key_header_is_no_public_key() -> None:
    headers = signed_headers(EVM, "list_api_keys", now_ms=NOW_MS) | {"X-Public-Key": ""}
    message = read_signed_message(None, CIMultiDict(headers))
    assert message is not None and message.public_key is None


def test_body_form_wins_over_headers() -> None:
    body = signed_body(STACKS, "list_api_keys", now_ms=NOW_MS)
    headers = signed_headers(EVM, "list_api_keys", now_ms=NOW_MS)
    message = read_signed_message(body, headers)
    assert message is not None and message.wallet_address == STACKS.address


def test_request_without_signature_is_not_a_signed_request() -> None:
    assert read_signed_message(None, {}) is None
    assert read_signed_message({"keyName": "bot"}, {"X-API-Key": "ck_live_x"}) is None
    assert read_signed_message([1, 2], {}) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"message": "{}"}, {}),
        ({"signature": "00"}, {}),
        ({"message": "{}", "signature": "00"}, {}),
        ({"message": 1, "signature": "00", "walletAddress": "SP"}, {}),
        ({"message": "{}", "signature": ["00"], "walletAddress": "SP"}, {}),
        ({"message": "{}", "signature": "00", "walletAddress": None}, {}),
        ({"message": "{}", "signature": "00", "walletAddress": "SP", "publicKey": 2}, {}),
        (None, {"X-Message": "{}"}),
        (
            None,
            {"X-Message": "{}", "X-Signature": "00", "X-Wallet-Address": "SP", "X-Public-Key": 2},
        ),
        (None, {"X-Message": "{}", "X-Signature": 0, "X-Wallet-Address": "SP"}),
        (None, {"X-Signature": "00", "X-Wallet-Address": "SP"}),
    ],
)
def test_partial_or_mistyped_signed_request_is_a_400(
    body: dict[str, Any] | None, headers: dict[str, str]
) -> None:
    with raises_api_error() as exc_info:
        read_signed_message(body, headers)
    assert exc_info.value.status == 400
    assert exc_info.value.code in (ErrorCode.BAD_REQUEST, ErrorCode.INVALID_MESSAGE)


VERIFIER = web.AppKey("verifier", SignatureVerifier)


async def _signed_echo(request: web.Request) -> web.Response:
    verifier = request.app[VERIFIER]
    try:
        body = await request.json() if request.can_read_body else None
        message = read_signed_message(body, request.headers)
        if message is None:
            return web.json_response({"signed": False})
        verified = await verifier.verify(message, action="list_api_keys")
    except REFUSALS as exc:
        error = api_error(exc)
        return web.json_response(error.body(), status=error.status)
    return web.json_response({"signed": True, "wallet": verified.wallet.canonical})


@pytest.fixture
async def echo_server(aiohttp_server: Any) -> Any:
    app = web.Application()
    app[VERIFIER] = make_verifier()
    app.router.add_route("*", "/", _signed_echo)
    return await aiohttp_server(app)


async def test_both_forms_are_read_from_a_real_request(
    echo_server: Any, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(echo_server)
    by_body = await client.post("/", json=signed_body(STACKS, "list_api_keys", now_ms=NOW_MS))
    assert await by_body.json() == {"signed": True, "wallet": STACKS.address}
    by_headers = await client.get("/", headers=signed_headers(EVM, "list_api_keys", now_ms=NOW_MS))
    assert await by_headers.json() == {"signed": True, "wallet": EVM.address.lower()}
    replayed = await client.get("/", headers=signed_headers(EVM, "list_api_keys", now_ms=NOW_MS))
    assert (replayed.status, (await replayed.json())["code"]) == (401, "SIGNATURE_REPLAYED")


async def test_non_utf8_header_is_refused_with_a_4xx(echo_server: Any) -> None:
    reader, writer = await asyncio.open_connection(echo_server.host, echo_server.port)
    headers = signed_headers(EVM, "list_api_keys", now_ms=NOW_MS)
    request = (
        b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        + b'X-Message: {"action":"list_api_keys\xff\xfe","timestamp":1}\r\n'
        + f"X-Signature: {headers['X-Signature']}\r\n".encode()
        + f"X-Wallet-Address: {headers['X-Wallet-Address']}\r\n\r\n".encode()
    )
    writer.write(request)
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    # aiohttp hands the bytes over as surrogate escapes; they never reach a hash.
    assert head.split()[1] == b"400"
    assert json.loads(body)["code"] == "INVALID_MESSAGE"


# -- order signatures ---------------------------------------------------------------------------


ORDER = {
    "uuid": "uuid-456def789",
    "side": "buy",
    "price": "1.25",
    "amount": 10,
    "note": "caf\u00e9 \u2603",
}


def canonical_orders() -> OrderVerifier:
    """The order verifier as the gateway builds it, with the canonical JSON scheme."""
    schemes = {CANONICAL_JSON: compile_scheme(CANONICAL_JSON_SPEC)}
    return OrderVerifier(schemes, replay=MemoryReplayGuard(maxsize=100), replay_ttl_s=300)


@each_signer
async def test_signed_order_verifies_for_its_owner(signer: Signer) -> None:
    order = sign_order(signer, ORDER | {"owner": signer.address})
    owner = await canonical_orders().verify(CANONICAL_JSON, order)
    assert owner == parse_wallet_address(signer.address)


def test_canonical_order_message_is_sorted_compact_utf8_without_signature() -> None:
    order = {"b": 1, "a": "\u00e9", "signature": "00"}
    assert canonical_order_message(order) == '{"a":"\u00e9","b":1}'
    assert canonical_order_message(dict(reversed(order.items()))) == '{"a":"\u00e9","b":1}'


@each_signer
async def test_changed_order_is_refused(signer: Signer) -> None:
    order = sign_order(signer, ORDER | {"owner": signer.address})
    orders = canonical_orders()
    for changed in (
        order | {"amount": 11},
        order | {"owner": OTHER_STACKS.address},
        {key: value for key, value in order.items() if key != "note"},
        order | {"extra": None},
        order | {"signature": "00" * 65},
    ):
        with raises_api_error() as exc_info:
            await orders.verify(CANONICAL_JSON, changed)
        assert (exc_info.value.status, exc_info.value.code) == (401, ErrorCode.INVALID_SIGNATURE)


@pytest.mark.parametrize(
    ("order", "code"),
    [
        (ORDER | {"owner": EVM.address}, ErrorCode.INVALID_SIGNATURE),
        (ORDER | {"owner": EVM.address, "signature": 5}, ErrorCode.INVALID_SIGNATURE),
        (ORDER | {"owner": EVM.address, "signature": "zz"}, ErrorCode.INVALID_SIGNATURE),
        (ORDER | {"signature": "00" * 65}, ErrorCode.INVALID_WALLET),
        (ORDER | {"owner": 7, "signature": "00" * 65}, ErrorCode.INVALID_WALLET),
        (ORDER | {"owner": "SPXYZ", "signature": "00" * 65}, ErrorCode.INVALID_WALLET),
    ],
    ids=["no-signature", "signature-not-string", "bad-hex", "no-owner", "owner-int", "bad-owner"],
)
async def test_malformed_order_signature_is_refused(order: dict[str, Any], code: ErrorCode) -> None:
    with raises_api_error() as exc_info:
        await canonical_orders().verify(CANONICAL_JSON, order)
    assert exc_info.value.code == code


async def test_order_public_key_must_be_the_signers() -> None:
    order = sign_order(STACKS, ORDER | {"owner": STACKS.address})
    owner = await canonical_orders().verify(CANONICAL_JSON, order, STACKS.public_key_hex)
    assert owner.canonical == STACKS.address
    with raises_api_error() as exc_info:
        await canonical_orders().verify(CANONICAL_JSON, order, OTHER_STACKS.public_key_hex)
    assert exc_info.value.code == ErrorCode.INVALID_SIGNATURE


# -- one message per signing key, bound to one network -------------------------------------------


def _as_signed(body: dict[str, str], address: str) -> SignedMessage:
    return SignedMessage(body["message"], body["signature"], address)


async def test_one_message_is_accepted_once_whatever_the_keys_address_form() -> None:
    verifier = make_verifier(stacks_network="any")
    key = "44" * 32
    forms = [
        StacksSigner(key + "01"),
        StacksSigner(key),
        StacksSigner(key + "01", network="testnet"),
        StacksSigner(key, network="testnet"),
    ]
    body = signed_body(forms[0], "list_api_keys", now_ms=NOW_MS)
    assert {signer.sign(body["message"]) for signer in forms} == {body["signature"]}

    await verifier.verify(_as_signed(body, forms[0].address), action="list_api_keys")
    for other in forms[1:]:
        with raises_api_error() as caught:
            await verifier.verify(_as_signed(body, other.address), action="list_api_keys")
        assert caught.value.code == ErrorCode.SIGNATURE_REPLAYED


@pytest.mark.parametrize(
    ("network", "accepted", "refused"),
    [
        ("mainnet", STACKS, STACKS_UNCOMPRESSED_TESTNET),
        ("testnet", STACKS_UNCOMPRESSED_TESTNET, STACKS),
    ],
)
async def test_stacks_addresses_of_another_network_are_refused(
    network: str, accepted: StacksSigner, refused: StacksSigner
) -> None:
    verifier = make_verifier(stacks_network=network)
    ok = signed_body(accepted, "list_api_keys", now_ms=NOW_MS)
    await verifier.verify(_as_signed(ok, accepted.address), action="list_api_keys")
    other = signed_body(refused, "list_api_keys", now_ms=NOW_MS)
    with raises_api_error() as caught:
        await verifier.verify(_as_signed(other, refused.address), action="list_api_keys")
    assert caught.value.code == ErrorCode.INVALID_WALLET
    # EVM wallets have one address per key and no network: unaffected.
    evm = signed_body(EVM, "list_api_keys", now_ms=NOW_MS)
    await verifier.verify(_as_signed(evm, EVM.address), action="list_api_keys")


async def test_an_order_is_accepted_once_per_scheme_owner_and_uuid() -> None:
    orders = canonical_orders()
    order = sign_order(STACKS, {"owner": STACKS.address, "uuid": "u-1", "amountIn": "1"})
    assert (await orders.verify(CANONICAL_JSON, order)).canonical == STACKS.address
    with raises_api_error() as caught:
        await orders.verify(CANONICAL_JSON, order)
    assert caught.value.code == ErrorCode.SIGNATURE_REPLAYED
