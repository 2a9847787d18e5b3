"""What an answer of the gateway says besides its body: errors and rate-limit headers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class WalletGateError(Exception):
    """An error answer of the gateway: its status, code, message and details (the error body)."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The binding window of the last answer (X-RateLimit-* headers)."""

    limit: int
    remaining: int
    reset: int
    window: int


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name, "")
    return int(value) if value.isdigit() else None


def rate_limit_info(headers: Mapping[str, str]) -> RateLimitInfo | None:
    names = ("Limit", "Remaining", "Reset", "Window")
    try:
        return RateLimitInfo(*(int(headers[f"X-RateLimit-{name}"]) for name in names))
    except (KeyError, ValueError):
        return None


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:  # an answer from something other than the gateway (a proxy page)
        return None


def error_of(status: int, body: Any) -> WalletGateError:
    """The error an answer stands for; EVM-dialect bodies carry the same fields."""
    body = body if isinstance(body, dict) else {}
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    code, message = body.get("code") or f"HTTP_{status}", body.get("error") or f"HTTP {status}"
    return WalletGateError(status, str(code), str(message), details)
