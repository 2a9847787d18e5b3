"""The parts of /openapi.json every answer shares: rate-limit headers and credentials.

Every answer carries the binding window's headers (docs/api.md, "Rate limits"), a 429
adds Retry-After; the security schemes name the three ways a request
authenticates: an API key, the signed header trio, a service key.
"""

from __future__ import annotations

from typing import Any, Final

STRING: Final = {"type": "string"}


def _header(description: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


INTEGER: Final = {"type": "integer"}

# The binding window of every answer; a 429 adds Retry-After.
HEADERS: Final[dict[str, Any]] = {
    "X-RateLimit-Limit": _header("Requests allowed in the binding window", INTEGER),
    "X-RateLimit-Remaining": _header("Requests left in the binding window", INTEGER),
    "X-RateLimit-Reset": _header("When the binding window resets, epoch seconds", INTEGER),
    "X-RateLimit-Window": _header("The binding window's length in seconds", INTEGER),
    "RateLimit": _header('IETF draft: "minute";r=87;t=40 for the binding window', STRING),
    "RateLimit-Policy": _header('IETF draft: every window, "minute";q=100;w=60, ...', STRING),
    "X-Request-ID": _header("Kept from the client when well formed, else generated", STRING),
    "Retry-After": _header("Seconds until the request may succeed", INTEGER),
}
RATE_LIMIT_HEADERS: Final = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Window",
    "RateLimit",
    "RateLimit-Policy",
    "X-Request-ID",
)


def _key_header(name: str, description: str) -> dict[str, str]:
    return {"type": "apiKey", "in": "header", "name": name, "description": description}


SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "ApiKey": _key_header("X-API-Key", "An API key (ck_live_... or stk_...)"),
    "ServiceKey": _key_header(
        "X-API-Key", "An operator's service key, with X-Wallet-Address (/api-key/* only)"
    ),
    "ServiceWallet": _key_header("X-Wallet-Address", "The wallet a service key acts for"),
    "SignedMessage": _key_header("X-Message", "The signed JSON message (docs/signing.md)"),
    "MessageSignature": _key_header("X-Signature", "65 bytes of hex over X-Message"),
    "SignerWallet": _key_header("X-Wallet-Address", "The wallet that signed X-Message"),
}

# Requirement objects: all schemes in one object must be present together.
Requirement = dict[str, list[str]]
API_KEY: Final[Requirement] = {"ApiKey": []}
SIGNED_HEADERS: Final[Requirement] = {
    "SignedMessage": [],
    "MessageSignature": [],
    "SignerWallet": [],
}
SERVICE_KEY: Final[Requirement] = {"ServiceKey": [], "ServiceWallet": []}
