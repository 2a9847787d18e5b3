"""Checks of the fields a wallet signs when it asks for a key.

Optional fields (`ipAllowlist`, `expiresAt`, `rateLimit`) are signed with the
rest, so nobody but the wallet can set or widen them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.addresses import parse_network
from gateway.config import Settings
from gateway.errors import ApiError, ErrorCode
from gateway.keys.model import Dialect, Permission
from gateway.keys.service import NewKey
from gateway.wallets import WalletAddress

MAX_NAME_LENGTH = 100
MAX_ALLOWLIST = 32
MAX_GRACE_S = 86400


def invalid_field(field: str, reason: str) -> ApiError:
    return ApiError(
        ErrorCode.INVALID_MESSAGE,
        f"Invalid signed message: {field} {reason}",
        {"field": field},
    )


def new_key_from_message(
    fields: Mapping[str, Any], wallet: WalletAddress, settings: Settings, now: datetime
) -> NewKey:
    return NewKey(
        wallet=wallet.canonical,
        wallet_display=wallet.display,
        chain=wallet.chain.value,
        dialect=Dialect.V1,
        name=_name(fields.get("keyName")),
        permissions=_permissions(fields.get("permissions"), settings.keys.default_permissions),
        rate_limit=_rate_limit(fields.get("rateLimit"), settings.rate_limits.per_minute),
        ip_allowlist=_allowlist(fields.get("ipAllowlist")),
        expires_at=_expires_at(fields.get("expiresAt"), now),
    )


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid_field("keyName", "must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH or not value.isprintable():
        raise invalid_field(
            "keyName", f"must be printable and at most {MAX_NAME_LENGTH} characters"
        )
    return value.strip()


def _permissions(value: Any, default: tuple[str, ...]) -> frozenset[Permission]:
    if value is None:
        return frozenset(Permission(p) for p in default)
    allowed = {p.value for p in Permission}
    if not isinstance(value, list) or not all(isinstance(p, str) and p in allowed for p in value):
        raise invalid_field("permissions", f"must be a list of {', '.join(sorted(allowed))}")
    return frozenset(Permission(p) for p in value)


def _rate_limit(value: Any, ceiling: int) -> int:
    if value is None:
        return ceiling
    if type(value) is not int or not 1 <= value <= ceiling:
        raise invalid_field("rateLimit", f"must be a whole number from 1 to {ceiling}")
    return value


def _allowlist(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ALLOWLIST:
        raise invalid_field("ipAllowlist", f"must be a list of at most {MAX_ALLOWLIST} CIDRs")
    networks = []
    for entry in value:
        if not isinstance(entry, str):
            raise invalid_field("ipAllowlist", "must hold IP networks such as 203.0.113.0/24")
        try:
            # Stored as matched: `::ffff:203.0.113.0/120` is 203.0.113.0/24.
            networks.append(str(parse_network(entry)))
        except ValueError:
            raise invalid_field(
                "ipAllowlist", "must hold IP networks such as 203.0.113.0/24"
            ) from None
    return tuple(networks)


def _expires_at(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise invalid_field("expiresAt", "must be an ISO 8601 date-time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid_field("expiresAt", "must be an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        # 9999-12-31T23:59:59-23:59 parses, yet is past the last representable
        # instant once in UTC; keys are stored and compared in UTC.
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise invalid_field("expiresAt", "must lie within years 0001 to 9999 in UTC") from None
    # The gateway's clock, which also judges expiry on use: a key can never
    # be created already expired.
    if moment <= now:
        raise invalid_field("expiresAt", "must be in the future")
    return moment


def rotation_grace(fields: Mapping[str, Any]) -> int:
    value = fields.get("graceSeconds", 0)
    if type(value) is not int or not 0 <= value <= MAX_GRACE_S:
        raise invalid_field("graceSeconds", f"must be a whole number from 0 to {MAX_GRACE_S}")
    return value


MAX_EVENT_PAGE = 100
_CURSOR_DIGITS = 18


def event_page(query: Mapping[str, str]) -> tuple[int | None, int]:
    """(events before this sequence number, page size) from `cursor` and `limit`.

    The cursor is the opaque `nextCursor` of the previous page; anything else
    is refused with 400 before any signature work.
    """
    cursor = query.get("cursor")
    before = None
    if cursor is not None:
        if not cursor.isascii() or not cursor.isdigit() or len(cursor) > _CURSOR_DIGITS:
            raise ApiError(ErrorCode.BAD_REQUEST, "Invalid cursor", {"field": "cursor"})
        before = int(cursor)
    text = query.get("limit", str(MAX_EVENT_PAGE // 2))
    if not (text.isascii() and text.isdigit() and len(text) <= 3) or not (
        1 <= int(text) <= MAX_EVENT_PAGE
    ):
        raise ApiError(
            ErrorCode.BAD_REQUEST, f"limit must be 1 to {MAX_EVENT_PAGE}", {"field": "limit"}
        )
    return before, int(text)
