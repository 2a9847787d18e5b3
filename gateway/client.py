"""The bot client, kept importable here: it lives in the `walletgate-client`
distribution (clients/python/), which a bot installs without the gateway."""

from walletgate_client import (
    EvmSigner,
    RateLimitInfo,
    Signer,
    StacksSigner,
    WalletGateClient,
    WalletGateError,
)

__all__ = [
    "EvmSigner",
    "RateLimitInfo",
    "Signer",
    "StacksSigner",
    "WalletGateClient",
    "WalletGateError",
]
