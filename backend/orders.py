"""Order records and the validation of what clients send.

Everything a client can send is checked here, before the store sees it, so
bad input is always a 400 with the field named and never reaches SQLite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from backend.errors import bad_request, invalid_query

DEFAULT_PAGE = 50
MAX_PAGE = 200

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_UUID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_AMOUNT = re.compile(r"[0-9]{1,78}")
_PRICE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# Row ids fit SQLite's signed 64-bit integer; 18 digits always do.
_CURSOR = re.compile(r"[1-9][0-9]{0,17}")
# Control characters have no place in identifiers; lone surrogates (legal in
# JSON escapes) cannot be stored as UTF-8 and would otherwise fail in SQLite.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


class OrderStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CANCELLED = "cancelled"


class Direction(StrEnum):
    GT = "gt"
    LT = "lt"


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated creation request; `fields` holds the JSON names and values."""

    uuid: str
    owner: str
    fields: dict[str, str | None]
    valid_from_us: int | None
    valid_to_us: int | None


@dataclass(frozen=True, slots=True)
class ListQuery:
    owner: str | None
    status: OrderStatus | None
    limit: int
    cursor: int | None


def is_order_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def clean_text(value: str | None, max_len: int = 256) -> str | None:
    """A header value fit for storing, or None (absent, empty, oversized, unprintable)."""
    if not value or len(value) > max_len or _FORBIDDEN.search(value):
        return None
    return value


def to_epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch; integer, so SQL compares exactly."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _text(name: str, value: Any, max_len: int) -> str:
    if not isinstance(value, str):
        raise bad_request(name, "must be a string")
    if not value:
        raise bad_request(name, "must not be empty")
    if len(value) > max_len:
        raise bad_request(name, f"must be at most {max_len} characters")
    if _FORBIDDEN.search(value):
        raise bad_request(name, "contains control or invalid characters")
    return value


def _amount(name: str, value: Any) -> str:
    text = _text(name, value, 78)
    if not _AMOUNT.fullmatch(text) or int(text) == 0:
        raise bad_request(name, "must be a decimal string of a positive integer")
    return text


def _price(name: str, value: Any) -> str:
    text = _text(name, value, 64)
    if not _PRICE.fullmatch(text) or not text.strip("0."):
        raise bad_request(name, "must be a positive decimal string such as '1.5'")
    return text


def _direction(name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in {d.value for d in Direction}:
        raise bad_request(name, "must be 'gt' or 'lt'")
    return value


def _uuid(name: str, value: Any) -> str:
    text = _text(name, value, 128)
    if not is_order_uuid(text):
        raise bad_request(name, "must be 1-128 characters of A-Z a-z 0-9 _ . : -")
    return text


def _instant(name: str, value: Any) -> str:
    text = _text(name, value, 64)
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(name, "must be an ISO 8601 date-time") from None
    return text


def _limited(max_len: int) -> Callable[[str, Any], str]:
    return lambda name, value: _text(name, value, max_len)


# JSON name -> (validator, required). Field names are those of the documented order API.
_FIELDS: dict[str, tuple[Callable[[str, Any], str], bool]] = {
    "owner": (_limited(128), True),
    "inputToken": (_limited(256), True),
    "outputToken": (_limited(256), True),
    "amountIn": (_amount, True),
    "targetPrice": (_price, True),
    "direction": (_direction, True),
    "conditionToken": (_limited(256), True),
    "recipient": (_limited(256), True),
    "signature": (_limited(1024), True),
    "uuid": (_uuid, True),
    "validFrom": (_instant, False),
    "validTo": (_instant, False),
    "publicKey": (_limited(200), False),
}
ORDER_FIELDS: tuple[str, ...] = tuple(_FIELDS)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad_request("body", "must be UTF-8") from None
    except (ValueError, RecursionError):
        raise bad_request("body", "must be valid JSON") from None
    if not isinstance(document, dict):
        raise bad_request("body", "must be a JSON object")
    return document


def parse_new_order(raw: bytes) -> NewOrder:
    """Validate a creation body; raises a 400 naming the first bad field."""
    document = _json_object(raw)
    unknown = sorted(set(document) - set(_FIELDS))
    if unknown:
        raise bad_request(unknown[0], "unknown field")
    fields: dict[str, str | None] = {}
    for name, (validate, required) in _FIELDS.items():
        value = document.get(name)
        if value is None:
            if required:
                raise bad_request(name, "is required")
            fields[name] = None
            continue
        fields[name] = validate(name, value)
    start = _epoch_or_none(fields["validFrom"])
    end = _epoch_or_none(fields["validTo"])
    if start is not None and end is not None and end <= start:
        raise bad_request("validTo", "must be after validFrom")
    owner, uuid = fields["owner"], fields["uuid"]
    assert owner is not None and uuid is not None  # required fields, checked above
    return NewOrder(uuid=uuid, owner=owner, fields=fields, valid_from_us=start, valid_to_us=end)


def _epoch_or_none(text: str | None) -> int | None:
    return None if text is None else to_epoch_us(datetime.fromisoformat(text))


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    """Parse ?owner=&status=&limit=&cursor=; empty values count as absent."""
    owner = query.get("owner") or None
    if owner is not None and clean_text(owner, 128) is None:
        raise invalid_query("owner", "must be at most 128 printable characters")
    status_text = query.get("status") or None
    if status_text is not None and status_text not in {s.value for s in OrderStatus}:
        raise invalid_query("status", "must be one of open, filled, cancelled")
    limit_text = query.get("limit") or str(DEFAULT_PAGE)
    if not limit_text.isascii() or not limit_text.isdigit() or len(limit_text) > 4:
        raise invalid_query("limit", f"must be an integer from 1 to {MAX_PAGE}")
    limit = int(limit_text)
    if not 1 <= limit <= MAX_PAGE:
        raise invalid_query("limit", f"must be an integer from 1 to {MAX_PAGE}")
    cursor_text = query.get("cursor") or None
    if cursor_text is not None and not _CURSOR.fullmatch(cursor_text):
        raise invalid_query("cursor", "must be a cursor returned as nextCursor")
    return ListQuery(
        owner=owner,
        status=OrderStatus(status_text) if status_text else None,
        limit=limit,
        cursor=int(cursor_text) if cursor_text else None,
    )
