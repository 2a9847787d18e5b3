"""Usage history: requests per key and hour, by outcome, for the last days.

Counted in memory beside the lifetime counters and written in the same
batch flush, so the request path never writes to the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from gateway.timestamps import utc_timestamp


class Outcome(StrEnum):
    SUCCESS = "success"
    CLIENT_ERROR = "client_error"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"


OUTCOMES: Final = tuple(Outcome)
_POSITION: Final = {outcome: position for position, outcome in enumerate(OUTCOMES)}
JSON_NAMES: Final = {
    Outcome.SUCCESS: "success",
    Outcome.CLIENT_ERROR: "clientError",
    Outcome.RATE_LIMITED: "rateLimited",
    Outcome.SERVER_ERROR: "serverError",
}


def outcome_of(status: int) -> Outcome:
    if status == 429:
        return Outcome.RATE_LIMITED
    if status < 400:
        return Outcome.SUCCESS
    return Outcome.CLIENT_ERROR if status < 500 else Outcome.SERVER_ERROR


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class HourlyUsage:
    hour: datetime
    success: int = 0
    client_error: int = 0
    rate_limited: int = 0
    server_error: int = 0

    def plus(self, other: HourlyUsage) -> HourlyUsage:
        return HourlyUsage(
            self.hour, *(getattr(self, o.value) + getattr(other, o.value) for o in OUTCOMES)
        )

    def counts(self) -> tuple[int, ...]:
        return tuple(getattr(self, o.value) for o in OUTCOMES)

    def to_json(self) -> dict[str, Any]:
        return {"hour": utc_timestamp(self.hour)} | {
            JSON_NAMES[o]: getattr(self, o.value) for o in OUTCOMES
        }


HourKey = tuple[str, datetime]  # (key id, start of the hour)


class HourlyCounter:
    """Counts since the last flush, per key and hour."""

    def __init__(self) -> None:
        self._counts: dict[HourKey, list[int]] = {}
        # The hour of the last moment counted, and the next: nearly every
        # moment falls in the same hour, known by two comparisons.
        self._hour = self._next_hour = datetime.min.replace(tzinfo=UTC)

    def __len__(self) -> int:
        return len(self._counts)

    def add(self, key_id: str, moment: datetime, outcome: Outcome, requests: int = 1) -> None:
        if not self._hour <= moment < self._next_hour:
            self._hour = hour_of(moment)
            self._next_hour = self._hour + timedelta(hours=1)
        slot = (key_id, self._hour)
        counts = self._counts.get(slot)
        if counts is None:
            counts = self._counts[slot] = [0, 0, 0, 0]
        counts[_POSITION[outcome]] += requests

    def take(self) -> dict[HourKey, HourlyUsage]:
        """Everything counted so far, and an empty counter."""
        counts, self._counts = self._counts, {}
        return {slot: HourlyUsage(slot[1], *c) for slot, c in counts.items()}

    def restore(self, batch: dict[HourKey, HourlyUsage]) -> None:
        """Put a batch that failed to flush back, for the next attempt."""
        for (key_id, hour), usage in batch.items():
            counts = self._counts.setdefault((key_id, hour), [0, 0, 0, 0])
            for i, value in enumerate(usage.counts()):
                counts[i] += value

    def pending(self, key_id: str) -> list[HourlyUsage]:
        return [HourlyUsage(h, *c) for (k, h), c in self._counts.items() if k == key_id]


def merge(stored: Iterable[HourlyUsage], pending: Iterable[HourlyUsage]) -> list[HourlyUsage]:
    """Stored hours plus unflushed counts, oldest first."""
    hours: dict[datetime, HourlyUsage] = {}
    for usage in (*stored, *pending):
        known = hours.get(usage.hour)
        hours[usage.hour] = usage if known is None else known.plus(usage)
    return [hours[h] for h in sorted(hours)]
