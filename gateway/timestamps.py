"""Moments as every answer and audit record spells them."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with a trailing Z, as every answer carries it."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class UtcClock:
    """The time as an aware UTC datetime, to the millisecond.

    Usage is stamped on every keyed request, and building an aware datetime
    costs about a microsecond; requests within the same millisecond share one.
    Answers spell moments to the second, so nobody sees the difference.
    """

    __slots__ = ("_last", "_last_ms", "_seconds")

    def __init__(self, seconds: Callable[[], float] = time.time) -> None:
        self._seconds = seconds
        self._last_ms = -1
        self._last = datetime.fromtimestamp(0, UTC)

    def __call__(self) -> datetime:
        ms = int(self._seconds() * 1000)
        if ms != self._last_ms:
            self._last_ms = ms
            self._last = datetime.fromtimestamp(ms / 1000, UTC)
        return self._last
