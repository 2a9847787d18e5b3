"""What the operator API reads from a request (queries, bodies, cursors) and the
JSON it answers with. Every check raises 400 with the field named, before any
store work, so bad input never changes anything."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from gateway.errors import ApiError, ErrorCode
from gateway.keys.audit import EventKind
from gateway.keys.model import KeyStatus
from gateway.keys.operator import KeyChange
from gateway.keys.store.admin_base import PageMark, TopBy

MAX_PAGE: Final = 100
MAX_REASON: Final = 500
_KEY_ID: Final = re.compile(r"key_[0-9a-f]{16}")
_WINDOW: Final = re.compile(r"([1-9][0-9]{0,3})([hd])")
MAX_WINDOW: Final = timedelta(days=7)
_CURSOR_DIGITS: Final = 18


def bad(field: str, message: str) -> ApiError:
    return ApiError(ErrorCode.BAD_REQUEST, message, {"field": field})


def only(query: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    """Refuse a parameter the endpoint does not know (a typo must not widen a query)."""
    for name in query:
        if name not in allowed:
            raise bad(name, f"Unknown query parameter {name!r}")


def key_id(text: str, field: str = "keyId") -> str:
    if not _KEY_ID.fullmatch(text):
        raise bad(field, "keyId must look like key_ and 16 hex digits")
    return text


def page_limit(query: Mapping[str, str], default: int) -> int:
    text = query.get("limit", str(default))
    if not (text.isascii() and text.isdigit() and len(text) <= 3) or not 1 <= int(text) <= MAX_PAGE:
        raise bad("limit", f"limit must be 1 to {MAX_PAGE}")
    return int(text)


def status(query: Mapping[str, str]) -> KeyStatus | None:
    text = query.get("status")
    if text is None:
        return None
    try:
        return KeyStatus(text)
    except ValueError:
        raise bad("status", "status must be active, suspended or revoked") from None


def event_kind(query: Mapping[str, str]) -> EventKind | None:
    text = query.get("kind")
    if text is None:
        return None
    try:
        return EventKind(text)
    except ValueError:
        kinds = ", ".join(k.value for k in EventKind)
        raise bad("kind", f"kind must be one of {kinds}") from None


def moment(text: str, field: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is UTC."""
    try:
        parsed = datetime.fromisoformat(text) if len(text) <= 64 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise bad(field, f"{field} must be an ISO 8601 date-time")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


# -- cursors: opaque to clients, checked strictly here ------------------------------


def key_cursor(mark: PageMark) -> str:
    text = f"{mark[0].astimezone(UTC).isoformat(timespec='microseconds')}|{mark[1]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def read_key_cursor(query: Mapping[str, str]) -> PageMark | None:
    text = query.get("cursor")
    if text is None:
        return None
    try:
        if len(text) > 128 or not text.isascii():
            raise ValueError
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, _, last_id = decoded.partition("|")
        moment_at = datetime.fromisoformat(at)
        if moment_at.tzinfo is None or not _KEY_ID.fullmatch(last_id):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad("cursor", "Invalid cursor") from None
    return moment_at.astimezone(UTC), last_id


def read_event_cursor(query: Mapping[str, str]) -> int | None:
    text = query.get("cursor")
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > _CURSOR_DIGITS:
        raise bad("cursor", "Invalid cursor")
    return int(text)


# -- bodies -------------------------------------------------------------------------


def reason(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_REASON or not value.isprintable():
        raise bad("reason", f"reason must be printable text of at most {MAX_REASON} characters")
    return value


def key_change(body: Any, ceiling: int, now: datetime) -> KeyChange:
    """A PATCH body: `{status?, rateLimit?, expiresAt?, reason?}`, at least one change."""
    if not isinstance(body, dict):
        raise bad("body", "Request body must be a JSON object")
    only(body, ("status", "rateLimit", "expiresAt", "reason"))
    if not {"status", "rateLimit", "expiresAt"} & body.keys():
        raise bad("body", "Nothing to change: send status, rateLimit or expiresAt")
    wanted = None
    if "status" in body:
        if body["status"] not in (KeyStatus.SUSPENDED.value, KeyStatus.ACTIVE.value):
            raise bad("status", "status must be suspended or active (revoke with DELETE)")
        wanted = KeyStatus(body["status"])
    rate_limit = body.get("rateLimit")
    if "rateLimit" in body and (type(rate_limit) is not int or not 1 <= rate_limit <= ceiling):
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            f"rateLimit must be a whole number from 1 to {ceiling} (the wallet's tier)",
            {"field": "rateLimit", "max": ceiling},
        )
    expires_at = None
    if body.get("expiresAt") is not None:
        if not isinstance(body["expiresAt"], str):
            raise bad("expiresAt", "expiresAt must be an ISO 8601 date-time or null")
        expires_at = moment(body["expiresAt"], "expiresAt")
        if expires_at <= now:
            raise bad("expiresAt", "expiresAt must be in the future")
    return KeyChange(
        status=wanted,
        rate_limit=rate_limit,
        expires_at=expires_at,
        clear_expiry="expiresAt" in body and body["expiresAt"] is None,
        reason=reason(body.get("reason")),
    )


def tier_name(body: Any, known: tuple[str, ...]) -> str | None:
    """A PUT tier body: `{"tier": "NAME"}`; null or "" takes the wallet out of any tier."""
    if not isinstance(body, dict):
        raise bad("body", "Request body must be a JSON object")
    only(body, ("tier", "reason"))
    if "tier" not in body:
        raise bad("tier", 'Send {"tier": "NAME"}, or null to clear it')
    name = body["tier"]
    if name is None or name == "":
        return None
    if not isinstance(name, str) or name not in known:
        raise ApiError(
            ErrorCode.BAD_REQUEST, "Unknown tier", {"field": "tier", "tiers": list(known)}
        )
    return name


# -- usage/top ------------------------------------------------------------------------


def window(query: Mapping[str, str]) -> timedelta:
    """`1h`, `24h`, `7d`...: whole hours or days, at most the 7 days of history."""
    match = _WINDOW.fullmatch(query.get("window", "1h"))
    if match is None:
        raise bad("window", "window must look like 1h, 24h or 7d")
    count, unit = int(match[1]), match[2]
    span = timedelta(hours=count) if unit == "h" else timedelta(days=count)
    if span > MAX_WINDOW:
        raise bad("window", "window must be at most 7d (the usage history kept)")
    return span


def top_by(query: Mapping[str, str]) -> TopBy:
    try:
        return TopBy(query.get("by", TopBy.REQUESTS.value))
    except ValueError:
        raise bad("by", "by must be requests, rate_limited or failed") from None
