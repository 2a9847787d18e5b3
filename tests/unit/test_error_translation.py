"""The one table from lower-layer exceptions to the error a client sees."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.errors import ApiError, ErrorCode
from gateway.http.errors import api_error
from gateway.keys.store import StoreError
from gateway.ratelimit import LimiterError
from gateway.upstream.connection import UpstreamTimeout, UpstreamUnavailable
from gateway.wallets.errors import (
    InvalidSignature,
    InvalidSignedMessage,
    InvalidWalletAddress,
    ReplayCacheFull,
    ReplayGuardUnavailable,
    SignatureExpired,
    SignatureReplayed,
)


@pytest.mark.parametrize(
    ("exc", "status", "code", "message", "details"),
    [
        (
            InvalidWalletAddress("bad EIP-55 checksum"),
            400,
            ErrorCode.INVALID_WALLET,
            "Invalid wallet address",
            {"reason": "bad EIP-55 checksum"},
        ),
        (
            InvalidSignedMessage("timestamp is required"),
            400,
            ErrorCode.INVALID_MESSAGE,
            "Invalid signed message: timestamp is required",
            {},
        ),
        (
            InvalidSignature("r and s must be in [1, n-1]"),
            401,
            ErrorCode.INVALID_SIGNATURE,
            "Invalid signature",
            {"reason": "r and s must be in [1, n-1]"},
        ),
        (InvalidSignature(), 401, ErrorCode.INVALID_SIGNATURE, "Invalid signature", {}),
        (SignatureExpired("old"), 401, ErrorCode.SIGNATURE_EXPIRED, "Signature expired", {}),
        (
            SignatureReplayed("again"),
            401,
            ErrorCode.SIGNATURE_REPLAYED,
            "Signature already used",
            {},
        ),
        (ReplayCacheFull("full"), 503, ErrorCode.SERVICE_UNAVAILABLE, "Replay cache full", {}),
        (
            ReplayGuardUnavailable("redis down"),
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            "Replay store unavailable",
            {},
        ),
        (
            StoreError("postgresql get failed: secret-dsn"),
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            "Key store unavailable",
            {},
        ),
        (LimiterError("x"), 503, ErrorCode.SERVICE_UNAVAILABLE, "Rate limiter unavailable", {}),
        (UpstreamTimeout("x"), 504, ErrorCode.UPSTREAM_TIMEOUT, "Upstream timeout", {}),
        (
            UpstreamUnavailable("x"),
            502,
            ErrorCode.UPSTREAM_UNAVAILABLE,
            "Upstream unavailable",
            {},
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_each_lower_layer_exception_has_its_error(
    exc: Exception, status: int, code: ErrorCode, message: str, details: dict[str, str]
) -> None:
    error = api_error(exc)
    assert (error.status, error.code, error.message, error.details) == (
        status,
        code,
        message,
        details,
    )


def test_an_api_error_is_itself() -> None:
    error = ApiError(ErrorCode.NOT_FOUND, "Not found")
    assert api_error(error) is error


def test_an_unknown_exception_is_a_500_that_names_nothing() -> None:
    error = api_error(KeyError("internal detail"))
    assert (error.status, error.code, error.message, error.details) == (
        500,
        ErrorCode.INTERNAL_ERROR,
        "Internal error",
        {},
    )


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (web.HTTPRequestEntityTooLarge(1, 2), 413, ErrorCode.PAYLOAD_TOO_LARGE),
        (web.HTTPMethodNotAllowed("POST", ["GET"]), 405, ErrorCode.METHOD_NOT_ALLOWED),
        (web.HTTPNotFound(), 404, ErrorCode.NOT_FOUND),
        (web.HTTPRequestURITooLong(), 414, ErrorCode.BAD_REQUEST),
        (web.HTTPBadGateway(), 500, ErrorCode.INTERNAL_ERROR),
    ],
)
def test_aiohttp_refusals_keep_their_status_in_our_body(
    exc: web.HTTPException, status: int, code: ErrorCode
) -> None:
    error = api_error(exc)
    assert (error.status, error.code) == (status, code)
