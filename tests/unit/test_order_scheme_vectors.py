"""Every vector of order-signatures.json verifies; every single-field mutation is refused."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gateway.errors import ApiError, ErrorCode
from gateway.order_schemes_config import parse_order_schemes
from gateway.wallets import clarity, stacks
from gateway.wallets.order_schemes import compile_scheme
from gateway.wallets.order_verify import OrderVerifier
from gateway.wallets.recover import parse_signature, recover_public_key
from gateway.wallets.replay import MemoryReplayGuard
from gateway.wallets.signing import StacksSigner, sign_order_with_scheme
from gateway.wallets.sip018 import structured_digest
from tests.support.errors import raises_api_error
from tests.support.order_scheme_routes import SCHEMES
from tests.support.order_scheme_support import VECTORS, cv, eip712_case, sip018_case

CLARITY = VECTORS["clarity_serialization"]
SIP018 = VECTORS["sip018"]
EIP712 = VECTORS["eip712"]
# The SIP's own vector signs a bare string, not an order tuple.
SIP018_ORDERS = [v for v in SIP018 if v["message"]["type"] == "tuple"]


def verifier_for(spec: Any) -> OrderVerifier:
    return OrderVerifier(
        {"vector": compile_scheme(spec)}, replay=MemoryReplayGuard(), replay_ttl_s=60
    )


async def refused(verifier: OrderVerifier, body: dict[str, Any]) -> ApiError:
    with raises_api_error() as caught:
        await verifier.verify("vector", body)
    return caught.value


@pytest.mark.parametrize("vector", CLARITY, ids=[v["name"] for v in CLARITY])
def test_clarity_serialization_matches_stacks_js(vector):
    assert cv(vector["value"]).hex() == vector["hex"]


def test_tuple_keys_are_sorted_by_bytes_as_the_clarity_vm_does():
    divergence = VECTORS["tuple_key_order_divergence"]
    ours = cv(divergence["value"]).hex()
    assert ours == divergence["clarity_vm_hex"]
    assert ours != divergence["stacksjs_hex"]


@pytest.mark.parametrize("vector", SIP018, ids=[v["name"] for v in SIP018])
def test_sip018_vector_bytes_hashes_and_signer(vector):
    domain, message = cv(vector["domain"]), cv(vector["message"])
    assert domain.hex() == vector["domain_serialized"]
    assert message.hex() == vector["message_serialized"]
    assert hashlib.sha256(domain).hexdigest() == vector["domain_hash"]
    assert hashlib.sha256(message).hexdigest() == vector["message_hash"]
    digest = structured_digest(domain, message)
    assert digest.hex() == vector["digest"]
    key = recover_public_key(parse_signature(vector["signature_rsv"]), digest)
    public_key = bytes.fromhex(vector["public_key"])
    assert key.format(compressed=len(public_key) == 33) == public_key
    version = stacks.NETWORK_VERSIONS[vector["network"]]
    assert stacks.address_from_public_key(public_key, version) == vector["address"]


@pytest.mark.parametrize("vector", SIP018_ORDERS, ids=[v["name"] for v in SIP018_ORDERS])
async def test_sip018_vector_order_verifies_through_its_scheme(vector):
    spec, body = sip018_case(vector)
    scheme = compile_scheme(spec)
    assert scheme.digest(body).hex() == vector["digest"]
    wallet = await verifier_for(spec).verify("vector", body)
    assert wallet.canonical == vector["address"]


@pytest.mark.parametrize("vector", EIP712, ids=[v["name"] for v in EIP712])
async def test_eip712_vector_hashes_and_order_verify(vector):
    spec, body = eip712_case(vector)
    scheme = compile_scheme(spec)
    primary = vector["typed_data"]["primaryType"]
    assert scheme.schema.encode_type(primary) == vector["encode_type"]
    assert "0x" + scheme.schema.type_hash(primary).hex() == vector["type_hash"]
    assert "0x" + scheme.schema.domain_separator.hex() == vector["domain_separator"]
    assert "0x" + scheme.digest(body).hex() == vector["digest"]
    wallet = await verifier_for(spec).verify("vector", body)
    assert wallet.canonical == vector["address"].lower()


async def test_uncompressed_key_address_is_refused_when_onchain():
    vector = next(v for v in SIP018_ORDERS if len(v["public_key"]) == 130)
    spec, body = sip018_case(vector, onchain=True)
    error = await refused(verifier_for(spec), body)
    assert error.code == ErrorCode.INVALID_SIGNATURE


async def test_compressed_key_address_is_accepted_when_onchain():
    vector = next(v for v in SIP018_ORDERS if v["name"].startswith("Blaze TRANSFER"))
    spec, body = sip018_case(vector, onchain=True)
    assert (await verifier_for(spec).verify("vector", body)).canonical == vector["address"]


# -- single-field mutations -------------------------------------------------------


def _other_principal(text: str) -> str:
    version, hash160, name = clarity.parse_principal(text)
    other = stacks.c32check_address(version, bytes([hash160[0] ^ 1]) + hash160[1:])
    return other if name is None else f"{other}.{name}"


def mutate(value: Any) -> Any:
    """Another value of the same type and shape: it converts, but was not signed."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, list):
        return [*value, value[0]] if value else ["0x00"]
    if isinstance(value, dict):
        first = next(iter(value))
        return {**value, first: mutate(value[first])}
    if value.isdigit() or (value.startswith("-") and value[1:].isdigit()):
        return str(int(value) + 1)
    if value.startswith("0x") and len(value) == 42:
        return "0x" + value[2:-1].lower() + ("1" if value[-1] != "1" else "2")
    if value.startswith("0x"):
        return value[:-1] + ("1" if value[-1] != "1" else "2")
    if value[:2] in ("SP", "ST", "SM", "SN"):
        return _other_principal(value)
    return value + "x"


def _mutations(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, value in body.items():
        if name == "signature" or value is None:
            continue
        out.append((name, {**body, name: mutate(value)}))
    return out


def _all_cases() -> list[tuple[str, Any, dict[str, Any]]]:
    cases = [(v["name"], *sip018_case(v)) for v in SIP018_ORDERS]
    cases += [(v["name"], *eip712_case(v)) for v in EIP712]
    return [
        (f"{name}:{field}", spec, changed)
        for name, spec, body in cases
        for field, changed in _mutations(body)
    ]


MUTATIONS = _all_cases()


@pytest.mark.parametrize(("case", "spec", "body"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
async def test_every_single_field_mutation_is_refused(case, spec, body):
    error = await refused(verifier_for(spec), body)
    assert error.code == ErrorCode.INVALID_SIGNATURE


@pytest.mark.parametrize("vector", SIP018_ORDERS + EIP712, ids=lambda v: v["name"])
async def test_a_flipped_signature_byte_is_refused(vector):
    spec, body = sip018_case(vector) if "signature_rsv" in vector else eip712_case(vector)
    signature = body["signature"]
    flipped = signature[:-6] + ("0" if signature[-6] != "0" else "1") + signature[-5:]
    error = await refused(verifier_for(spec), {**body, "signature": flipped})
    assert error.code == ErrorCode.INVALID_SIGNATURE


@pytest.mark.parametrize("vector", SIP018_ORDERS + EIP712, ids=lambda v: v["name"])
async def test_a_field_nobody_signed_is_refused_by_name(vector):
    spec, body = sip018_case(vector) if "signature_rsv" in vector else eip712_case(vector)
    error = await refused(verifier_for(spec), {**body, "extra": "1"})
    assert error.code == ErrorCode.INVALID_MESSAGE
    assert error.details == {"field": "extra"}


async def test_blaze_scheme_as_configured_signs_exactly_the_stacks_js_intent():
    vector = next(v for v in SIP018_ORDERS if v["name"].startswith("Blaze TRANSFER"))
    [spec] = [s for s in parse_order_schemes(SCHEMES) if s.name == "blaze"]
    intent = vector["message"]["value"]
    order = {
        "owner": vector["address"],
        "inputToken": intent["contract"]["value"],
        "amountIn": intent["amount"]["value"]["value"],
        "recipient": intent["target"]["value"]["value"],
        "uuid": intent["uuid"]["value"],
        "targetPrice": "1.5",
    }
    signer = StacksSigner(vector["private_key"])
    signed = sign_order_with_scheme(signer, compile_scheme(spec), order)
    assert signed["signature"] == vector["signature_rsv"]
