"""Wallet addresses: parsed once, compared in canonical form everywhere.

A bad address is a client error (`InvalidWalletAddress`) found before any
cryptography runs: wrong shape, bad c32check checksum, multisig or unknown
version, or a mixed-case EVM address without a valid EIP-55 checksum.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from walletgate_client._wallets import evm, stacks
from walletgate_client._wallets.errors import InvalidWalletAddress

# Stacks addresses are about 41 characters and EVM ones 42; anything much
# longer is refused before it is scanned.
MAX_ADDRESS_CHARS = 64


class Chain(StrEnum):
    STACKS = "stacks"
    EVM = "evm"


@dataclass(frozen=True, slots=True)
class WalletAddress:
    """One wallet. Equality and hashing use the canonical form, not the display."""

    chain: Chain
    canonical: str
    display: str = field(compare=False)
    # Stacks only: the c32check version (22 SP / 26 ST) and the key's hash160.
    version: int | None = None
    hash160: bytes | None = None

    @property
    def network(self) -> str | None:
        if self.version == stacks.MAINNET_SINGLESIG:
            return "mainnet"
        if self.version == stacks.TESTNET_SINGLESIG:
            return "testnet"
        return None


def parse_wallet_address(
    text: object, chains: Collection[str] = (Chain.STACKS, Chain.EVM)
) -> WalletAddress:
    """Parse what a client sent as its wallet address, or raise InvalidWalletAddress."""
    if not isinstance(text, str):
        raise InvalidWalletAddress("wallet address must be a string")
    display = text.strip()
    if not display:
        raise InvalidWalletAddress("wallet address is empty")
    if len(display) > MAX_ADDRESS_CHARS:
        raise InvalidWalletAddress("wallet address is too long")
    wallet = _parse_display(display)
    if wallet.chain not in chains:
        raise InvalidWalletAddress(f"{wallet.chain} wallets are not enabled")
    return wallet


# A wallet signs many requests: its address is decoded (c32 + checksum, or
# EIP-55 Keccak) once, not per request. Cache keys are at most MAX_ADDRESS_CHARS
# long, so the cache is small; failures raise and are never cached.
@lru_cache(maxsize=4096)
def _parse_display(display: str) -> WalletAddress:
    if not display.isascii():
        raise InvalidWalletAddress("wallet address has non-ASCII characters")
    if display[:2] in ("0x", "0X"):
        return _parse_evm(display)
    if display[0] in "sS":
        return _parse_stacks(display)
    raise InvalidWalletAddress("not a Stacks or EVM address")


def _parse_evm(display: str) -> WalletAddress:
    if not evm.is_address(display):
        raise InvalidWalletAddress("an EVM address is 0x followed by 40 hex digits")
    if not evm.has_valid_checksum(display):
        raise InvalidWalletAddress("bad EIP-55 checksum")
    return WalletAddress(Chain.EVM, "0x" + display[2:].lower(), display)


def _parse_stacks(display: str) -> WalletAddress:
    try:
        version, hash160 = stacks.c32check_decode_address(display)
    except stacks.C32Error as exc:
        raise InvalidWalletAddress(f"invalid Stacks address: {exc}") from None
    if version in stacks.MULTISIG_VERSIONS:
        raise InvalidWalletAddress("multisig addresses cannot sign messages")
    if version not in stacks.SINGLESIG_VERSIONS:
        raise InvalidWalletAddress("unknown Stacks address version")
    # c32 decoding is one-to-one (leading "0"s are leading zero bytes), so the
    # normalised text is exactly what c32check_address(version, hash160) gives.
    canonical = stacks.c32_normalise(display)
    return WalletAddress(Chain.STACKS, canonical, display, version, hash160)
