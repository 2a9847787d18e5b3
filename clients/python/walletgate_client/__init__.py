"""walletgate-client: a bot's client for a walletgate gateway.

    from walletgate_client import StacksSigner, WalletGateClient

Needs only aiohttp, coincurve and pycryptodome; signs with the gateway's own encoders.
"""

from walletgate_client.answers import RateLimitInfo, WalletGateError
from walletgate_client.client import WalletGateClient
from walletgate_client.signing import EvmSigner, Signer, StacksSigner, load_signer

__all__ = [
    "EvmSigner",
    "RateLimitInfo",
    "Signer",
    "StacksSigner",
    "WalletGateClient",
    "WalletGateError",
    "load_signer",
]
