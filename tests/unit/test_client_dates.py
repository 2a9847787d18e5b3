"""Every date a client sends is range-checked: a year 0001-9999 with any UTC
offset is either accepted or refused with 400 naming the field, never a 500.

The client-sent dates: `expiresAt` of a signed `create_api_key` (read by the
gateway) and `validFrom` / `validTo` of an order (read by the bundled
backend). The gateway forwards order fields without reading their dates.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import BackendError
from backend.orders import parse_new_order
from gateway.config import Settings
from gateway.errors import ApiError
from gateway.http.key_fields import new_key_from_message
from gateway.wallets import parse_wallet_address
from tests.conftest import order_body

WALLET = parse_wallet_address("SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PROPERTY = settings(max_examples=400, deadline=None)

# Every offset Python's ISO 8601 reader takes: strictly inside +-24h, down to
# the microsecond; minute offsets are what clients send, so half the draws.
offsets = st.one_of(
    st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timedelta(minutes=m)),
    st.integers(-(24 * 3600 * 10**6 - 1), 24 * 3600 * 10**6 - 1).map(
        lambda us: timedelta(microseconds=us)
    ),
)
# Uniform draws almost never land within a day of either end, where an
# offset carries the instant out of range: those days get draws of their own.
local_times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.datetimes(min_value=datetime(9999, 12, 31), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 1, 23, 59, 59)),
)


def iso(local: datetime, offset: timedelta | None) -> str:
    """`local` written with `offset` as the client typed it (none: a naive date-time)."""
    text = local.isoformat()
    if offset is None:
        return text
    sign = "-" if offset < timedelta(0) else "+"
    whole = abs(offset)
    hours, rest = divmod(whole, timedelta(hours=1))
    minutes, rest = divmod(rest, timedelta(minutes=1))
    written = f"{sign}{hours:02d}:{minutes:02d}"
    if rest:
        written += f":{rest.seconds:02d}.{rest.microseconds:06d}"
    return text + written


def in_utc(text: str) -> datetime | None:
    """The instant `text` names, or None when it lies outside datetime's UTC range."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def create_fields(expires_at: str) -> dict[str, object]:
    return {"action": "create_api_key", "keyName": "k", "expiresAt": expires_at}


@PROPERTY
@given(local_times, st.one_of(st.none(), offsets))
def test_expires_at_is_accepted_or_refused_with_400_naming_it(
    local: datetime, offset: timedelta | None
) -> None:
    text = iso(local, offset)
    expected = in_utc(text)
    try:
        key = new_key_from_message(create_fields(text), WALLET, Settings(), NOW)
    except ApiError as refusal:
        assert refusal.status == 400
        assert refusal.details == {"field": "expiresAt"}
        assert expected is None or expected <= NOW
    else:
        assert expected is not None and expected > NOW
        assert key.expires_at == expected
        assert key.expires_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    ["9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.999999-00:00:01"],
)
def test_the_reported_overflow_is_a_400(text: str) -> None:
    with pytest.raises(ApiError) as refused:
        new_key_from_message(create_fields(text), WALLET, Settings(), NOW)
    assert refused.value.status == 400
    assert refused.value.details == {"field": "expiresAt"}


def test_the_last_instant_in_utc_is_accepted() -> None:
    key = new_key_from_message(create_fields("9999-12-31T23:59:59+23:59"), WALLET, Settings(), NOW)
    assert key.expires_at == datetime(9999, 12, 31, 0, 0, 59, tzinfo=UTC)


@PROPERTY
@given(
    st.sampled_from(["validFrom", "validTo"]),
    local_times,
    st.one_of(st.none(), offsets),
)
def test_order_dates_are_accepted_or_refused_with_400_naming_them(
    name: str, local: datetime, offset: timedelta | None
) -> None:
    body = order_body(WALLET.display) | {"signature": "00", name: iso(local, offset)}
    try:
        order = parse_new_order(json.dumps(body).encode())
    except BackendError as refusal:
        assert refusal.status == 400
        assert refusal.details["field"] == name
    else:
        assert order.fields[name] == body[name]
