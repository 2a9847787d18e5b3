"""The gateway's error codes, the HTTP status of each (one table), and the JSON body.

Request-handling layers raise `ApiError` with a code; the status comes from
`STATUS`, never from the call site. Lower layers (wallets, key store, rate
limiter, upstream) raise their own exceptions, which `gateway.http.errors`
translates; the error middleware is the one place that renders a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from gateway.timestamps import utc_timestamp

__all__ = ["STATUS", "ApiError", "ErrorCode", "bad_request", "error_body", "utc_timestamp"]


class ErrorCode(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    INVALID_WALLET = "INVALID_WALLET"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    UNAUTHORIZED = "UNAUTHORIZED"
    INVALID_API_KEY = "INVALID_API_KEY"
    API_KEY_INACTIVE = "API_KEY_INACTIVE"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    SIGNATURE_EXPIRED = "SIGNATURE_EXPIRED"
    SIGNATURE_REPLAYED = "SIGNATURE_REPLAYED"
    WALLET_MISMATCH = "WALLET_MISMATCH"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    IP_NOT_ALLOWED = "IP_NOT_ALLOWED"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    API_KEY_EXISTS = "API_KEY_EXISTS"
    KEY_LIMIT_REACHED = "KEY_LIMIT_REACHED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    UNTRUSTED_PROXY = "UNTRUSTED_PROXY"


STATUS: Final[Mapping[ErrorCode, int]] = MappingProxyType(
    {
        ErrorCode.BAD_REQUEST: 400,
        ErrorCode.INVALID_MESSAGE: 400,
        ErrorCode.INVALID_WALLET: 400,
        ErrorCode.ORDER_NOT_OPEN: 400,
        ErrorCode.UNAUTHORIZED: 401,
        ErrorCode.INVALID_API_KEY: 401,
        ErrorCode.API_KEY_INACTIVE: 401,
        ErrorCode.INVALID_SIGNATURE: 401,
        ErrorCode.SIGNATURE_EXPIRED: 401,
        ErrorCode.SIGNATURE_REPLAYED: 401,
        ErrorCode.WALLET_MISMATCH: 403,
        ErrorCode.PERMISSION_DENIED: 403,
        ErrorCode.IP_NOT_ALLOWED: 403,
        ErrorCode.UNTRUSTED_PROXY: 403,
        ErrorCode.ORDER_NOT_FOUND: 404,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.METHOD_NOT_ALLOWED: 405,
        ErrorCode.API_KEY_EXISTS: 409,
        # The wallet already holds keys.max_active_per_wallet active keys.
        ErrorCode.KEY_LIMIT_REACHED: 409,
        ErrorCode.PAYLOAD_TOO_LARGE: 413,
        ErrorCode.RATE_LIMITED: 429,
        ErrorCode.INTERNAL_ERROR: 500,
        ErrorCode.UPSTREAM_UNAVAILABLE: 502,
        ErrorCode.SERVICE_UNAVAILABLE: 503,
        ErrorCode.UPSTREAM_TIMEOUT: 504,
    }
)


class ApiError(Exception):
    """An error with a stable code, a human message and details; its status is `STATUS[code]`.

    `status` overrides the table only to relay a protocol-level 4xx that has no
    code of its own (an over-long request line is 414 with `BAD_REQUEST`).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = STATUS[code] if status is None else status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code.value}, {self.message!r})"

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(
    code: ErrorCode, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": message,
        "code": code.value,
        "details": details or {},
        "timestamp": utc_timestamp(),
    }


# The one constructor raised from several places; one spelling.
def bad_request(message: str = "Invalid request body", **details: Any) -> ApiError:
    return ApiError(ErrorCode.BAD_REQUEST, message, details)
