"""The gateway's own encoders (addresses, Stacks and EVM hashing, Clarity, SIP-018,
EIP-712, order schemes), copied from `gateway/wallets/` so a bot signs with the
very code the gateway verifies with, without installing the gateway.

Copies, not forks: tests/unit/test_client_package.py fails when a copy differs
from its source; `make client-sync` copies them again.
"""
