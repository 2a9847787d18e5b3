"""Random orders, random keys: our encoders against eth-account, and sign/verify round trips.

eth-account's typed-data hashing is a test-time cross-check only (it is
permissive and slow); the gateway hashes with its own compiled encoders.
"""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import Any

from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import ErrorCode
from gateway.order_spec import MessageEntry, SchemeKind, SchemeSpec
from gateway.wallets import evm, stacks
from gateway.wallets.order_schemes import Eip712Scheme, compile_scheme
from gateway.wallets.order_verify import OrderVerifier
from gateway.wallets.replay import MemoryReplayGuard
from gateway.wallets.signing import EvmSigner, StacksSigner, sign_order_with_scheme
from tests.support.errors import raises_api_error

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
private_keys = st.binary(min_size=32, max_size=32).filter(
    lambda k: (
        0
        < int.from_bytes(k, "big")
        < 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    )
)
names = st.from_regex(r"[a-z][a-zA-Z0-9]{0,8}", fullmatch=True)
text = st.text(max_size=40).filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t))
addresses = st.binary(min_size=20, max_size=20).map(
    lambda raw: evm.to_checksum_address("0x" + raw.hex())
)


def _integer(kind: str) -> st.SearchStrategy[tuple[str, str]]:
    bits = int(kind.lstrip("uint") or 256)
    if kind.startswith("u"):
        return st.integers(0, (1 << bits) - 1).map(lambda n: (kind, str(n)))
    return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1).map(lambda n: (kind, str(n)))


def _fixed_bytes(size: int) -> st.SearchStrategy[tuple[str, str]]:
    return st.binary(min_size=size, max_size=size).map(lambda b: (f"bytes{size}", "0x" + b.hex()))


ATOMIC = st.one_of(
    st.sampled_from(["uint8", "uint64", "uint256", "int8", "int32", "int256"]).flatmap(_integer),
    st.integers(1, 32).flatmap(_fixed_bytes),
    st.binary(max_size=64).map(lambda b: ("bytes", "0x" + b.hex())),
    st.booleans().map(lambda b: ("bool", b)),
    addresses.map(lambda a: ("address", a)),
    text.map(lambda t: ("string", t)),
)
# A member: atomic, an array of one atomic type, or a nested struct of atomics.
MEMBER = st.one_of(
    ATOMIC,
    ATOMIC.flatmap(
        lambda first: st.lists(ATOMIC.filter(lambda other: other[0] == first[0]), max_size=3).map(
            lambda rest: (f"{first[0]}[]", [first[1]] + [v for _, v in rest])
        )
    ),
    st.lists(ATOMIC, min_size=1, max_size=3).map(lambda items: ("Leg", items)),
)


@st.composite
def typed_orders(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(our scheme's types/message with decimal strings, eth-account's full message)."""
    members = draw(st.lists(st.tuples(names, MEMBER), max_size=6, unique_by=lambda m: m[0]))
    members = [m for m in members if m[0] not in ("uuid", "owner")]
    leg_types = next((value for _, (kind, value) in members if kind == "Leg"), None)
    order = [{"name": "uuid", "type": "string"}, {"name": "owner", "type": "address"}]
    message: dict[str, Any] = {"uuid": draw(text), "owner": draw(addresses)}
    types: dict[str, Any] = {}
    for name, (kind, value) in members:
        if kind == "Leg":
            if value is not leg_types:
                continue
            types["Leg"] = [{"name": f"f{i}", "type": k} for i, (k, _) in enumerate(value)]
            value = {f"f{i}": v for i, (_, v) in enumerate(value)}
        order.append({"name": name, "type": kind})
        message[name] = value
    types["Order"] = order
    domain = {"name": draw(text), "version": "1", "chainId": draw(st.integers(1, 2**64))}
    return {"types": types, "domain": domain, "message": message}, _eth_account_form(
        types, domain, message
    )


def _numbers(kind: str, value: Any, types: dict[str, Any]) -> Any:
    base = kind.removesuffix("[]")
    if kind.endswith("[]"):
        return [_numbers(base, v, types) for v in value]
    if base in types:
        return {m["name"]: _numbers(m["type"], value[m["name"]], types) for m in types[base]}
    return int(value) if "int" in base else value


def _eth_account_form(types: dict[str, Any], domain: dict[str, Any], message: dict[str, Any]):
    domain_type = [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ]
    return {
        "types": {"EIP712Domain": domain_type, **types},
        "primaryType": "Order",
        "domain": domain,
        "message": {
            m["name"]: _numbers(m["type"], message[m["name"]], types) for m in types["Order"]
        },
    }


def _scheme(ours: dict[str, Any]) -> Eip712Scheme:
    spec = SchemeSpec(
        "random",
        SchemeKind.EIP712,
        MappingProxyType(ours["domain"]),
        primary_type="Order",
        types=MappingProxyType({k: tuple(v) for k, v in ours["types"].items()}),
    )
    scheme = compile_scheme(spec)
    assert isinstance(scheme, Eip712Scheme)
    return scheme


@SETTINGS
@given(typed_orders(), private_keys)
def test_eip712_digest_and_signature_match_eth_account(case, key):
    ours, theirs = case
    scheme = _scheme(ours)
    reference = Account.sign_typed_data(key, full_message=theirs)
    assert scheme.digest(ours["message"]) == bytes(reference.message_hash)
    signer = EvmSigner(key.hex())
    body = {**ours["message"], "owner": signer.address}
    signed = sign_order_with_scheme(signer, scheme, body)
    theirs_signed = Account.sign_typed_data(
        key, full_message={**theirs, "message": {**theirs["message"], "owner": signer.address}}
    )
    assert signed["signature"] == "0x" + bytes(theirs_signed.signature).hex()


def _verify(scheme: Any, body: dict[str, Any]) -> Any:
    verifier = OrderVerifier({"s": scheme}, replay=MemoryReplayGuard(), replay_ttl_s=60)
    return asyncio.run(verifier.verify("s", body))


STACKS_SPEC = SchemeSpec(
    "stacks",
    SchemeKind.SIP018,
    MappingProxyType({"name": "walletgate", "version": "1", "chain-id": 2147483648}),
    message=(
        MessageEntry("owner", "principal", "owner"),
        MessageEntry("amount-in", "uint", "amountIn"),
        MessageEntry("slippage", "int", "slippage"),
        MessageEntry("post-only", "bool", "postOnly"),
        MessageEntry("memo", "string-utf8", "memo"),
        MessageEntry("nonce", "optional buff", "nonce"),
        MessageEntry("tags", "list string-ascii", "tags"),
        MessageEntry("uuid", "string-ascii", "uuid"),
    ),
)
ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@SETTINGS
@given(
    key=private_keys,
    compressed=st.booleans(),
    amount=st.integers(0, 2**128 - 1),
    slippage=st.integers(-(2**127), 2**127 - 1),
    post_only=st.booleans(),
    memo=text,
    nonce=st.none() | st.binary(max_size=16).map(lambda b: "0x" + b.hex()),
    tags=st.lists(ascii_text, max_size=3),
    uuid=ascii_text,
)
def test_sip018_orders_round_trip_and_a_changed_amount_is_refused(
    key, compressed, amount, slippage, post_only, memo, nonce, tags, uuid
):
    scheme = compile_scheme(STACKS_SPEC)
    signer = StacksSigner(key.hex() + ("01" if compressed else ""), network="testnet")
    body = {
        "amountIn": str(amount),
        "slippage": str(slippage),
        "postOnly": post_only,
        "memo": memo,
        "nonce": nonce,
        "tags": tags,
        "uuid": uuid,
    }
    signed = sign_order_with_scheme(signer, scheme, body)
    assert _verify(scheme, signed).canonical == signer.address
    changed = {**signed, "amountIn": str(amount ^ 1)}
    with raises_api_error() as refused:
        _verify(scheme, changed)
    assert refused.value.code == ErrorCode.INVALID_SIGNATURE
    assert stacks.c32_normalise(signer.address) == signer.address
