"""The one error type of the gateway and its JSON body (product.md §4).

Every part raises `ApiError`; the error middleware in `app.py` is the single
place that turns it into an HTTP response, so bodies stay uniform.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


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
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class ApiError(Exception):
    """An error with its HTTP status, stable code, human message and details."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code.value}, {self.message!r})"

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with a trailing Z, as the seed documents show."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def error_body(code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> dict:
    return {
        "error": message,
        "code": code.value,
        "details": details or {},
        "timestamp": utc_timestamp(),
    }


# Constructors for the errors raised from many places; one spelling each.
def bad_request(message: str = "Invalid request body", **details: Any) -> ApiError:
    return ApiError(400, ErrorCode.BAD_REQUEST, message, details)


def invalid_message(reason: str) -> ApiError:
    return ApiError(400, ErrorCode.INVALID_MESSAGE, f"Invalid signed message: {reason}")


def invalid_wallet(reason: str) -> ApiError:
    return ApiError(400, ErrorCode.INVALID_WALLET, "Invalid wallet address", {"reason": reason})


def invalid_signature(reason: str | None = None) -> ApiError:
    return ApiError(
        401, ErrorCode.INVALID_SIGNATURE, "Invalid signature", {"reason": reason} if reason else {}
    )


def not_found(message: str = "Not found") -> ApiError:
    return ApiError(404, ErrorCode.NOT_FOUND, message)
