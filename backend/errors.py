"""The backend's own error type and JSON error body.

The backend is a separate service and must not import the gateway, so it
keeps this small copy of the body shape; both sides emit the same JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aiohttp import web


class Code(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_EXISTS = "ORDER_EXISTS"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class BackendError(Exception):
    """An error with its HTTP status, stable code, message and details."""

    def __init__(
        self, status: int, code: Code, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        body = error_body(self.code, self.message, self.details)
        return web.json_response(body, status=self.status, headers=headers)


def utc_now_iso(moment: datetime | None = None) -> str:
    """ISO 8601 UTC with millisecond precision and a trailing Z."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_body(code: Code, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "error": message,
        "code": code.value,
        "details": details or {},
        "timestamp": utc_now_iso(),
    }


def bad_request(field: str, reason: str) -> BackendError:
    return BackendError(
        400, Code.BAD_REQUEST, "Invalid request body", {"field": field, "reason": reason}
    )


def invalid_query(param: str, reason: str) -> BackendError:
    return BackendError(
        400, Code.BAD_REQUEST, "Invalid query parameter", {"parameter": param, "reason": reason}
    )


def order_not_found(uuid: str) -> BackendError:
    return BackendError(404, Code.ORDER_NOT_FOUND, "Order not found", {"orderUuid": uuid})


def order_not_open(uuid: str, reason: str) -> BackendError:
    return BackendError(
        400, Code.ORDER_NOT_OPEN, "Order not open", {"reason": reason, "orderUuid": uuid}
    )


def order_exists(uuid: str) -> BackendError:
    return BackendError(409, Code.ORDER_EXISTS, "Order already exists", {"orderUuid": uuid})


# Statuses aiohttp raises by itself (routing, body size) mapped onto our codes.
_HTTP_CODES: dict[int, tuple[Code, str]] = {
    404: (Code.NOT_FOUND, "Not found"),
    405: (Code.METHOD_NOT_ALLOWED, "Method not allowed"),
    413: (Code.PAYLOAD_TOO_LARGE, "Request body too large"),
}


def from_http_exception(exc: web.HTTPException) -> web.Response:
    """Re-dress an aiohttp HTTP exception in the uniform error body."""
    code, message = _HTTP_CODES.get(exc.status, (Code.BAD_REQUEST, exc.reason or "Bad request"))
    if exc.status >= 500:
        code, message = Code.INTERNAL_ERROR, "Internal error"
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return BackendError(exc.status, code, message).response(headers)
