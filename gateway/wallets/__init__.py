"""Wallet signatures: Stacks and EVM addresses, message signing, verification."""

from gateway.wallets.address import Chain, WalletAddress, parse_wallet_address
from gateway.wallets.recover import verify_message_signature
from gateway.wallets.signed import (
    SignatureVerifier,
    SignedMessage,
    VerifiedMessage,
    canonical_order_message,
    read_signed_message,
)

__all__ = [
    "Chain",
    "SignatureVerifier",
    "SignedMessage",
    "VerifiedMessage",
    "WalletAddress",
    "canonical_order_message",
    "parse_wallet_address",
    "read_signed_message",
    "verify_message_signature",
]
