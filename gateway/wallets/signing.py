"""Sign like a wallet: for bots, tests and the `walletgate sign` command.

The output is byte for byte what the reference wallets produce: libsecp256k1
signs deterministically (RFC 6979) and low-s, as stacks.js and ethers do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from coincurve import PrivateKey

from gateway.wallets import evm, stacks
from gateway.wallets.address import Chain
from gateway.wallets.signed import canonical_order_message


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
        digest = stacks.hash_message(message.encode("utf-8"))
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
        digest = evm.hash_message(message.encode("utf-8"))
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


def sign_order(signer: Signer, order: Mapping[str, Any]) -> dict[str, Any]:
    """The order with its `signature` over the canonical order message."""
    return {**order, "signature": signer.sign(canonical_order_message(order))}
