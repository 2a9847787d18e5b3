"""Order schemes as an operator configures them, and orders that fit them.

Three shapes over the bundled backend's order fields: every field in a
SIP-018 tuple, an EIP-712 `Order` (validity dates left unsigned), and the
Blaze `TRANSFER_TOKENS` intent, which signs only what moves tokens.
"""

from __future__ import annotations

import uuid as uuid_module
from typing import Any

from gateway.config import RouteSettings
from gateway.wallets.signing import EvmSigner, StacksSigner

TOKEN_A = "SP2ZNGJ85ENDY6QRHQ5P2D4FXKGZWCKTB2T0Z55KS.token-a"
TOKEN_B = "SP2ZNGJ85ENDY6QRHQ5P2D4FXKGZWCKTB2T0Z55KS.token-b"
ORACLE = "SP2ZNGJ85ENDY6QRHQ5P2D4FXKGZWCKTB2T0Z55KS.price-oracle"
TESTNET_TOKEN = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.token-a"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
ORACLE_EVM = "0x000000000000000000000000000000000000dEaD"


def _entry(kind: str, field: str) -> dict[str, str]:
    return {"type": kind, "field": field}


SCHEMES: dict[str, Any] = {
    "stacks-order": {
        "kind": "sip018",
        "domain": {"name": "walletgate", "version": "1", "chain-id": 1},
        "message": {
            "owner": _entry("principal", "owner"),
            "input-token": _entry("principal", "inputToken"),
            "output-token": _entry("principal", "outputToken"),
            "amount-in": _entry("uint", "amountIn"),
            "target-price": _entry("string-ascii", "targetPrice"),
            "direction": _entry("string-ascii", "direction"),
            "condition-token": _entry("principal", "conditionToken"),
            "recipient": _entry("principal", "recipient"),
            "uuid": _entry("string-ascii", "uuid"),
            "valid-from": _entry("optional string-ascii", "validFrom"),
            "valid-to": _entry("optional string-ascii", "validTo"),
        },
    },
    "evm-order": {
        "kind": "eip712",
        "domain": {"name": "walletgate", "version": "1", "chainId": 1},
        "primary_type": "Order",
        "types": {
            "Order": [
                {"name": "owner", "type": "address"},
                {"name": "inputToken", "type": "address"},
                {"name": "outputToken", "type": "address"},
                {"name": "amountIn", "type": "uint256"},
                {"name": "targetPrice", "type": "string"},
                {"name": "direction", "type": "string"},
                {"name": "oracle", "type": "bytes32"},
                {"name": "recipient", "type": "address"},
                {"name": "uuid", "type": "string"},
            ]
        },
        "fields": {"oracle": "conditionToken"},
        "unsigned": ["validFrom", "validTo"],
    },
    "blaze": {
        "kind": "sip018",
        "domain": {"name": "BLAZE_PROTOCOL", "version": "v1.0", "chain-id": 1},
        "message": {
            "contract": _entry("principal", "inputToken"),
            "intent": {"type": "string-ascii", "const": "TRANSFER_TOKENS"},
            "opcode": {"type": "none"},
            "amount": _entry("optional uint", "amountIn"),
            "target": _entry("optional principal", "recipient"),
            "uuid": _entry("string-ascii", "uuid"),
        },
        "unsigned": [
            "outputToken",
            "targetPrice",
            "direction",
            "conditionToken",
            "validFrom",
            "validTo",
        ],
    },
}
BLAZE_UNSIGNED = tuple(SCHEMES["blaze"]["unsigned"])


def order_routes(scheme: str) -> list[RouteSettings]:
    """The default route table with order creation under `scheme`."""
    return [
        RouteSettings(
            "POST", "/api/v1/orders/new", permission="create", owner="body", order_signature=scheme
        ),
        RouteSettings("GET", "/api/v1/orders/{uuid}", public=True),
    ]


def order_for(scheme: str, signer: StacksSigner | EvmSigner, **overrides: Any) -> dict[str, Any]:
    """An unsigned order of the bundled backend's shape that converts under `scheme`."""
    uuid = f"uuid-{uuid_module.uuid4().hex}"
    if scheme == "evm-order":
        body = {
            "owner": signer.address,
            "inputToken": USDC,
            "outputToken": WETH,
            "amountIn": "250000000",
            "targetPrice": "3150.25",
            "direction": "lt",
            "conditionToken": "0x" + "11" * 32,
            "recipient": signer.address,
            "uuid": uuid,
        }
    else:
        body = {
            "owner": signer.address,
            "inputToken": TOKEN_A,
            "outputToken": TOKEN_B,
            "amountIn": "1000000",
            "targetPrice": "1.5",
            "direction": "gt",
            "conditionToken": ORACLE,
            "recipient": signer.address,
            "uuid": uuid,
        }
    body.update(overrides)
    return body
