"""Usage counted in memory: lifetime counters and hourly outcomes per key.

Nothing here writes on the request path; `flush` writes everything counted
since the last flush in one store transaction and keeps it for the next
attempt when the store is down.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from gateway.keys.history import HourlyCounter, HourlyUsage, Outcome, hour_of, merge, outcome_of
from gateway.keys.model import ApiKey, Permission, UsageDelta
from gateway.keys.store.base import KeyStore, StoreError

_USAGE_COUNTER = {
    Permission.CREATE: "creation_count",
    Permission.EXECUTE: "execution_count",
    Permission.CANCEL: "cancellation_count",
}


class UsageCounter:
    def __init__(self, store: KeyStore, clock: Callable[[], datetime], history: timedelta) -> None:
        self._store = store
        self._clock = clock
        self._history = history
        self._usage: dict[str, UsageDelta] = {}
        self._hourly = HourlyCounter()

    def record_rate_limited(self, key_id: str) -> None:
        """A request refused by the key's own quota: hourly history only."""
        self._hourly.add(key_id, self._clock(), Outcome.RATE_LIMITED)

    def record(self, key_id: str, status: int, permission: Permission | None) -> None:
        now = self._clock()
        self._hourly.add(key_id, now, outcome_of(status))
        delta = self._usage.get(key_id)
        if delta is None:
            delta = self._usage[key_id] = UsageDelta()
        delta.total_requests += 1
        delta.last_used_at = now
        if status < 400:
            delta.successful_requests += 1
            if permission is not None:
                counter = _USAGE_COUNTER[permission]
                setattr(delta, counter, getattr(delta, counter) + 1)
        else:
            delta.failed_requests += 1

    def with_pending(self, key: ApiKey) -> ApiKey:
        delta = self._usage.get(key.id)
        if delta is None or delta.is_empty():
            return key
        last_used = key.last_used_at
        if delta.last_used_at is not None and (last_used is None or delta.last_used_at > last_used):
            last_used = delta.last_used_at
        return replace(key, usage=key.usage.plus(delta), last_used_at=last_used)

    async def hourly_for(self, keys: Sequence[ApiKey]) -> dict[str, list[HourlyUsage]]:
        """Each key's hours within the history window, flushed or not, oldest first."""
        since = hour_of(self._clock() - self._history)
        stored = await self._store.hourly_usage([k.id for k in keys], since)
        return {
            k.id: [
                u
                for u in merge(stored.get(k.id, ()), self._hourly.pending(k.id))
                if u.hour >= since
            ]
            for k in keys
        }

    async def flush(self) -> None:
        """Write the counted usage in one batch; keep it for next time on failure."""
        if not self._usage and not self._hourly:
            return
        batch, self._usage = self._usage, {}
        hourly = self._hourly.take()
        try:
            await self._store.add_usage(batch, hourly, keep_since=self._clock() - self._history)
        except StoreError:
            for key_id, delta in batch.items():
                self._usage.setdefault(key_id, UsageDelta()).add(delta)
            self._hourly.restore(hourly)
            raise
