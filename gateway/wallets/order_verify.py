"""Verify an order body under its route's scheme (coverage, values, signature, replay).

Cheap checks first, the curve last, the replay guard after everything else
passed, so a refused order never burns its uuid. Errors: `400 INVALID_MESSAGE`
naming the body field, `400 INVALID_WALLET` for a bad owner, `401
INVALID_SIGNATURE`, `401 SIGNATURE_REPLAYED`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from gateway.wallets.address import Chain, WalletAddress, parse_wallet_address
from gateway.wallets.errors import (
    InvalidOrder,
    InvalidOrderField,
    InvalidSignature,
    InvalidWalletAddress,
    OrderSchemeReloaded,
    SignatureReplayed,
    UncoveredOrderField,
    WalletError,
)
from gateway.wallets.order_schemes import (
    CanonicalJsonScheme,
    Eip712Scheme,
    OrderScheme,
    Sip018Scheme,
    covered_fields,
)
from gateway.wallets.recover import (
    SECP256K1_N,
    evm_address_of,
    parse_public_key,
    parse_signature,
    recover_public_key,
    stacks_key_matches,
    verify_message_signature,
)
from gateway.wallets.replay import ReplayGuard, order_replay_key
from gateway.wallets.secp256k1 import RecoveredKey
from gateway.wallets.signed import Outcome, canonical_order_message
from gateway.wallets.sip018 import FieldError

_HALF_N = SECP256K1_N // 2
_STACKS_V = frozenset({0, 1})
_EVM_V = frozenset({0, 1, 27, 28})


def order_signature_bytes(signature_hex: object, allowed_v: frozenset[int]) -> bytes:
    """`r || s || recid` from the order's signature; high-s and unusual v refused."""
    if isinstance(signature_hex, str):
        raw = signature_hex[2:] if signature_hex[:2] in ("0x", "0X") else signature_hex
        if len(raw) == 130 and raw[128:130].isascii():
            try:
                v = int(raw[128:130], 16)
            except ValueError:
                v = -1
            if v not in allowed_v:
                raise InvalidSignature("bad recovery id")
    signature = parse_signature(signature_hex)
    # (r, n-s) recovers the same key: one order has one accepted signature form.
    if int.from_bytes(signature[32:64], "big") > _HALF_N:
        raise InvalidSignature("high-s signature")
    return signature


class OrderVerifier:
    """`await verify(scheme_name, order, public_key)` -> the owner's wallet, or a WalletError."""

    def __init__(
        self,
        schemes: Mapping[str, OrderScheme],
        *,
        replay: ReplayGuard,
        replay_ttl_s: float,
        chains: Collection[str] = (Chain.STACKS, Chain.EVM),
        observe: Callable[[str, str], None] | None = None,
    ) -> None:
        self.use_schemes(schemes)
        self._replay = replay
        self._ttl = replay_ttl_s
        self._chains = tuple(chains)
        self._observe = observe

    def use_schemes(self, schemes: Mapping[str, OrderScheme]) -> None:
        """Verify under these compiled schemes from now on (start-up, SIGHUP reload)."""
        covered = {name: covered_fields(s) for name, s in schemes.items()}
        # Both in one step of the event loop: no request sees one without the other.
        self.schemes, self._covered = dict(schemes), covered

    def _report(self, chain: str, outcome: Outcome) -> None:
        if self._observe is not None:
            self._observe(chain, outcome.value)

    async def verify(
        self, scheme_name: str, order: Any, public_key: str | None = None
    ) -> WalletAddress:
        scheme = self.schemes.get(scheme_name)
        if scheme is None:
            # Only a request that matched its route just before a reload gets here.
            raise OrderSchemeReloaded("retry")
        if not isinstance(order, dict):
            raise InvalidOrder("an order is a JSON object")
        self._check_coverage(scheme_name, order)
        wallet = self._owner(scheme, order)
        claimed = order.get("publicKey", public_key)
        try:
            self.check_signature(scheme, order, wallet, claimed)
        except WalletError as exc:
            invalid_input = isinstance(exc, InvalidOrderField | InvalidWalletAddress)
            outcome = Outcome.INVALID_MESSAGE if invalid_input else Outcome.INVALID
            self._report(wallet.chain.value, outcome)
            raise
        uuid = order.get("uuid")
        if not isinstance(uuid, str):
            raise InvalidOrderField("uuid", "must be a string")
        if not await self._replay.first_use(order_replay_key(scheme_name, wallet, uuid), self._ttl):
            self._report(wallet.chain.value, Outcome.REPLAYED)
            raise SignatureReplayed("order already used")
        self._report(wallet.chain.value, Outcome.VALID)
        return wallet

    def _check_coverage(self, scheme_name: str, order: Mapping[str, Any]) -> None:
        covered = self._covered[scheme_name]
        if covered is None:
            return
        for name in order:
            if name not in covered:
                raise UncoveredOrderField(name)

    def _owner(self, scheme: OrderScheme, order: Mapping[str, Any]) -> WalletAddress:
        owner = order.get("owner")
        chains = self._chains if scheme.chain is None else (scheme.chain,)
        try:
            wallet = parse_wallet_address(owner, chains)
        except InvalidWalletAddress:
            self._report("unknown", Outcome.INVALID_WALLET)
            raise
        if isinstance(scheme, Sip018Scheme):
            if owner != wallet.canonical:
                raise InvalidOrderField("owner", "must be a canonical (upper case) Stacks address")
            if wallet.network != scheme.network:
                raise InvalidOrderField("owner", f"must be a {scheme.network} address")
        return wallet

    def check_signature(
        self, scheme: OrderScheme, order: Mapping[str, Any], wallet: WalletAddress, claimed: Any
    ) -> None:
        if claimed is not None and not isinstance(claimed, str):
            raise InvalidOrderField("publicKey", "must be a string")
        if isinstance(scheme, CanonicalJsonScheme):
            _check_canonical_json(order, wallet, claimed)
            return
        try:
            digest = scheme.digest(order)
        except FieldError as exc:
            raise InvalidOrderField(exc.field, exc.reason) from None
        allowed_v = _EVM_V if isinstance(scheme, Eip712Scheme) else _STACKS_V
        key = recover_public_key(order_signature_bytes(order.get("signature"), allowed_v), digest)
        if isinstance(scheme, Eip712Scheme):
            matches = _evm_matches(wallet, key)
        else:
            matches = stacks_key_matches(wallet, key, compressed_only=scheme.spec.onchain)
        if not matches:
            raise InvalidSignature("signature does not match the order owner")
        if claimed is not None:
            raw = parse_public_key(claimed)
            if raw != key.format(compressed=len(raw) == 33):
                raise InvalidSignature("public key does not match the signature")


def _check_canonical_json(order: Mapping[str, Any], wallet: WalletAddress, claimed: Any) -> None:
    signature = order.get("signature")
    if not isinstance(signature, str):
        raise InvalidSignature("order signature is required")
    try:
        message = canonical_order_message(order)
    except (TypeError, ValueError):
        raise InvalidSignature("order cannot be serialised") from None
    verify_message_signature(wallet, message, signature, claimed)


def _evm_matches(wallet: WalletAddress, key: RecoveredKey) -> bool:
    return evm_address_of(key) == wallet.canonical
