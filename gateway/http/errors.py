"""The one place where lower-layer exceptions become HTTP errors.

The wallet layer, the key service and its store, the rate limiter and the
upstream pool raise exceptions of their own that know nothing of HTTP.
`api_error` turns any of them (and aiohttp's own `HTTPException`s) into the
`ApiError` the client sees: its code, message and details, the status coming
from `gateway.errors.STATUS`. Anything not in the table is an unexpected
failure: 500 INTERNAL_ERROR. `in_service_dialect` is the one renaming the
service-key dialect's documents ask for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from aiohttp import web

from gateway.errors import ApiError, ErrorCode
from gateway.keys.errors import (
    InactiveApiKey,
    InvalidApiKey,
    KeyExists,
    KeyLimitReached,
    KeyNotFound,
    KeyNotRotatable,
)
from gateway.keys.store import StoreError
from gateway.ratelimit import LimiterError, RateLimited
from gateway.upstream.connection import UpstreamTimeout, UpstreamUnavailable
from gateway.wallets.errors import (
    InvalidOrder,
    InvalidOrderField,
    InvalidSignature,
    InvalidSignedMessage,
    InvalidWalletAddress,
    OrderSchemeReloaded,
    ReplayCacheFull,
    ReplayGuardUnavailable,
    SignatureExpired,
    SignatureReplayed,
    UncoveredOrderField,
    WalletError,
)

Translation = Callable[[Exception], ApiError]


def _fixed(code: ErrorCode, message: str) -> Translation:
    """A translation that ignores the exception's own text (it may name internals)."""
    return lambda _exc: ApiError(code, message)


def _invalid_wallet(exc: Exception) -> ApiError:
    reason = exc.reason if isinstance(exc, WalletError) else str(exc)
    return ApiError(ErrorCode.INVALID_WALLET, "Invalid wallet address", {"reason": reason})


def _invalid_message(exc: Exception) -> ApiError:
    reason = exc.reason if isinstance(exc, WalletError) else str(exc)
    return ApiError(ErrorCode.INVALID_MESSAGE, f"Invalid signed message: {reason}")


def _invalid_signature(exc: Exception) -> ApiError:
    reason = exc.reason if isinstance(exc, WalletError) else None
    details = {"reason": reason} if reason else {}
    return ApiError(ErrorCode.INVALID_SIGNATURE, "Invalid signature", details)


def _invalid_order(exc: Exception) -> ApiError:
    return ApiError(ErrorCode.BAD_REQUEST, "Invalid request body", {"reason": str(exc)})


def _invalid_order_field(exc: Exception) -> ApiError:
    assert isinstance(exc, InvalidOrderField)
    details = {"field": exc.field, "reason": exc.reason}
    return ApiError(ErrorCode.INVALID_MESSAGE, "Invalid order field", details)


def _uncovered_order_field(exc: Exception) -> ApiError:
    assert isinstance(exc, InvalidOrderField)
    details = {"field": exc.field}
    return ApiError(ErrorCode.INVALID_MESSAGE, "field not covered by the order signature", details)


def _inactive_key(exc: Exception) -> ApiError:
    assert isinstance(exc, InactiveApiKey)
    return ApiError(ErrorCode.API_KEY_INACTIVE, "API key inactive", {"status": exc.status})


def _key_limit(exc: Exception) -> ApiError:
    assert isinstance(exc, KeyLimitReached)
    return ApiError(
        ErrorCode.KEY_LIMIT_REACHED,
        "This wallet already has the most active API keys allowed; revoke one first",
        {"maxActiveKeys": exc.limit},
    )


def _not_rotatable(exc: Exception) -> ApiError:
    assert isinstance(exc, KeyNotRotatable)
    return ApiError(
        ErrorCode.BAD_REQUEST, "Only an active key can be rotated", {"keyId": exc.key_id}
    )


def _rate_limited(exc: Exception) -> ApiError:
    assert isinstance(exc, RateLimited)
    quota = exc.quota
    return ApiError(
        ErrorCode.RATE_LIMITED, "Rate limit exceeded", quota.details(), quota.headers(exc.now)
    )


# Looked up along the exception's MRO, so a subclass may have a row of its own
# (ReplayCacheFull) or fall back to its base's (any other WalletError).
TRANSLATIONS: Final[Mapping[type[Exception], Translation]] = MappingProxyType(
    {
        InvalidWalletAddress: _invalid_wallet,
        InvalidSignedMessage: _invalid_message,
        InvalidSignature: _invalid_signature,
        InvalidOrder: _invalid_order,
        InvalidOrderField: _invalid_order_field,
        UncoveredOrderField: _uncovered_order_field,
        OrderSchemeReloaded: _fixed(ErrorCode.SERVICE_UNAVAILABLE, "Order scheme reloaded; retry"),
        SignatureExpired: _fixed(ErrorCode.SIGNATURE_EXPIRED, "Signature expired"),
        SignatureReplayed: _fixed(ErrorCode.SIGNATURE_REPLAYED, "Signature already used"),
        ReplayCacheFull: _fixed(ErrorCode.SERVICE_UNAVAILABLE, "Replay cache full"),
        ReplayGuardUnavailable: _fixed(ErrorCode.SERVICE_UNAVAILABLE, "Replay store unavailable"),
        WalletError: _invalid_signature,
        InvalidApiKey: _fixed(ErrorCode.INVALID_API_KEY, "Invalid API key"),
        InactiveApiKey: _inactive_key,
        KeyNotFound: _fixed(ErrorCode.NOT_FOUND, "API key not found"),
        KeyLimitReached: _key_limit,
        KeyExists: _fixed(ErrorCode.API_KEY_EXISTS, "An API key already exists for this wallet"),
        KeyNotRotatable: _not_rotatable,
        RateLimited: _rate_limited,
        StoreError: _fixed(ErrorCode.SERVICE_UNAVAILABLE, "Key store unavailable"),
        LimiterError: _fixed(ErrorCode.SERVICE_UNAVAILABLE, "Rate limiter unavailable"),
        UpstreamTimeout: _fixed(ErrorCode.UPSTREAM_TIMEOUT, "Upstream timeout"),
        UpstreamUnavailable: _fixed(ErrorCode.UPSTREAM_UNAVAILABLE, "Upstream unavailable"),
    }
)

# What request handlers catch to count a refusal before re-raising it.
REFUSALS: Final[tuple[type[Exception], ...]] = (ApiError, *TRANSLATIONS)


def api_error(exc: Exception) -> ApiError:
    """The HTTP error for `exc`: itself if already one, its table row, else 500."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, web.HTTPException):
        return _from_http_exception(exc)
    for kind in type(exc).__mro__:
        translate = TRANSLATIONS.get(kind)
        if translate is not None:
            return translate(exc)
    return ApiError(ErrorCode.INTERNAL_ERROR, "Internal error")


# The service-key dialect (`/api-key/...`) names every failed credential as its
# documents do (seed 001: "UNAUTHORIZED  Missing or invalid authentication").
_SERVICE_DIALECT_CODES: Final[Mapping[ErrorCode, ErrorCode]] = MappingProxyType(
    {ErrorCode.INVALID_API_KEY: ErrorCode.UNAUTHORIZED}
)


def in_service_dialect(error: ApiError) -> ApiError:
    """`error` as the service-key dialect spells it (same status and message)."""
    code = _SERVICE_DIALECT_CODES.get(error.code)
    if code is None:
        return error
    return ApiError(code, error.message, error.details, error.headers, status=error.status)


def _from_http_exception(exc: web.HTTPException) -> ApiError:
    """aiohttp's own refusals (router 404/405, its body-size check) in our error body."""
    if exc.status == 413:
        return ApiError(ErrorCode.PAYLOAD_TOO_LARGE, "Request body too large")
    if exc.status == 405:
        return ApiError(ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed")
    if exc.status == 404:
        return ApiError(ErrorCode.NOT_FOUND, "Not found")
    if exc.status < 500:
        return ApiError(ErrorCode.BAD_REQUEST, "Invalid request", status=exc.status)
    return ApiError(ErrorCode.INTERNAL_ERROR, "Internal error")
