"""Sign like a wallet: Stacks and EVM signers, signed management messages, signed orders.

The output is byte for byte what the reference wallets produce: libsecp256k1
signs deterministically (RFC 6979) and low-s, as stacks.js and ethers do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from coincurve import PrivateKey

from walletgate_client._wallets import evm, stacks
from walletgate_client._wallets.address import Chain
from walletgate_client._wallets.order_schemes import (
    CanonicalJsonScheme,
    Eip712Scheme,
    OrderScheme,
    Sip018Scheme,
)
from walletgate_client._wallets.sip018 import FieldError


def _key_bytes(private_key_hex: str) -> bytes:
    text = private_key_hex.strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("private key must be hex") from None


def _private_key(secret: bytes) -> PrivateKey:
    try:
        return PrivateKey(secret)
    except Exception:
        raise ValueError("private key is out of range") from None


class StacksSigner:
    """stacks.js `signMessageHashRsv` over `hashMessage`: RSV hex, v = recovery id."""

    chain: ClassVar[Chain] = Chain.STACKS
    __slots__ = ("_key", "address", "public_key_hex")

    def __init__(self, private_key_hex: str, *, network: str = "mainnet") -> None:
        raw = _key_bytes(private_key_hex)
        # stacks.js: 33 bytes ending 01 means "use the compressed public key".
        if len(raw) == 33 and raw[32] == 1:
            compressed = True
        elif len(raw) == 32:
            compressed = False
        else:
            raise ValueError("a Stacks private key is 32 bytes, or 33 bytes ending 01")
        if network not in stacks.NETWORK_VERSIONS:
            raise ValueError('network must be "mainnet" or "testnet"')
        self._key = _private_key(raw[:32])
        public_key = self._key.public_key.format(compressed=compressed)
        self.public_key_hex: str = public_key.hex()
        self.address: str = stacks.address_from_public_key(
            public_key, stacks.NETWORK_VERSIONS[network]
        )

    def sign(self, message: str) -> str:
        return self.sign_digest(stacks.hash_message(message.encode("utf-8")))

    def sign_digest(self, digest: bytes) -> str:
        """stacks.js `signMessageHashRsv`: r || s || recovery id, hex without 0x."""
        return self._key.sign_recoverable(digest, hasher=None).hex()


class EvmSigner:
    """ethers `Wallet.signMessage` (EIP-191): `0x` + r || s || v, v = 27 or 28."""

    chain: ClassVar[Chain] = Chain.EVM
    __slots__ = ("_key", "address", "public_key_hex")

    def __init__(self, private_key_hex: str) -> None:
        raw = _key_bytes(private_key_hex)
        if len(raw) != 32:
            raise ValueError("an EVM private key is 32 bytes")
        self._key = _private_key(raw)
        public_key = self._key.public_key.format(compressed=False)
        self.public_key_hex: str = public_key.hex()
        self.address: str = evm.to_checksum_address(evm.address_from_public_key(public_key))

    def sign(self, message: str) -> str:
        return self.sign_digest(evm.hash_message(message.encode("utf-8")))

    def sign_digest(self, digest: bytes) -> str:
        """ethers `SigningKey.sign(digest).serialized`: 0x + r || s || v (27/28)."""
        signature = self._key.sign_recoverable(digest, hasher=None)
        return "0x" + (signature[:64] + bytes([signature[64] + 27])).hex()


Signer = StacksSigner | EvmSigner


def load_signer(private_key_hex: str, *, chain: str, network: str = "mainnet") -> Signer:
    if chain == Chain.STACKS:
        return StacksSigner(private_key_hex, network=network)
    if chain == Chain.EVM:
        return EvmSigner(private_key_hex)
    raise ValueError(f"unknown chain {chain!r}")


def signed_message(action: str, fields: Mapping[str, Any] | None, now_ms: int | None) -> str:
    """The message a wallet front end builds: action, the bound fields, then timestamp."""
    timestamp = int(time.time() * 1000) if now_ms is None else now_ms
    return json.dumps(
        {"action": action, **(fields or {}), "timestamp": timestamp}, separators=(",", ":")
    )


def signed_body(
    signer: Signer,
    action: str,
    fields: Mapping[str, Any] | None = None,
    *,
    now_ms: int | None = None,
) -> dict[str, str]:
    message = signed_message(action, fields, now_ms)
    return {"message": message, "signature": signer.sign(message), "walletAddress": signer.address}


def signed_headers(
    signer: Signer,
    action: str,
    fields: Mapping[str, Any] | None = None,
    *,
    now_ms: int | None = None,
) -> dict[str, str]:
    body = signed_body(signer, action, fields, now_ms=now_ms)
    return {
        "X-Message": body["message"],
        "X-Signature": body["signature"],
        "X-Wallet-Address": body["walletAddress"],
    }


def canonical_order_message(order: Mapping[str, Any]) -> str:
    """The order without `signature`, as sorted compact JSON with non-ASCII kept."""
    unsigned = {key: value for key, value in order.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign_order(signer: Signer, order: Mapping[str, Any]) -> dict[str, Any]:
    """The order with its `signature` over the canonical order message."""
    return {**order, "signature": signer.sign(canonical_order_message(order))}


def signer_for_scheme(
    private_key_hex: str, scheme: OrderScheme, *, chain: str, network: str
) -> Signer:
    """The signer a scheme needs: its chain, and for SIP-018 the domain's network."""
    if isinstance(scheme, Sip018Scheme):
        return StacksSigner(private_key_hex, network=scheme.network)
    if isinstance(scheme, Eip712Scheme):
        return EvmSigner(private_key_hex)
    return load_signer(private_key_hex, chain=chain, network=network)


def sign_order_with_scheme(
    signer: Signer, scheme: OrderScheme, order: Mapping[str, Any]
) -> dict[str, Any]:
    """The order with its `signature` under `scheme` (what the gateway verifies).

    The owner defaults to the signer. A value that does not convert raises
    ValueError naming the field, as the gateway would refuse it.
    """
    body = {"owner": signer.address, **order}
    body.pop("signature", None)
    if isinstance(scheme, CanonicalJsonScheme):
        return sign_order(signer, body)
    if scheme.chain != signer.chain:
        raise ValueError(f"scheme {scheme.spec.name!r} is signed by {scheme.chain} wallets")
    try:
        digest = scheme.digest(body)
    except FieldError as exc:
        raise ValueError(f"order field {exc.field}: {exc.reason}") from None
    return {**body, "signature": signer.sign_digest(digest)}
