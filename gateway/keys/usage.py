"""Usage counted in memory: lifetime counters, hourly outcomes and client
addresses per key.

Nothing here writes on the request path; `flush` writes everything counted
since the last flush in one store transaction and keeps it for the next
attempt when the store is down.

The request path only tallies (key, client address, status, permission,
second) in one dict; the tallies are folded into the counters a reader
needs (lifetime, hourly, client addresses) when one reads them or the batch
is flushed. Requests of one key from one address within one second share a
tally, so under load the folding costs a small fraction of a request each.
Moments of use are kept to the second, as every answer spells them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gateway.keys.audit import KeyEvent
from gateway.keys.clients import ClientIp, ClientIpCounter, merge_clients
from gateway.keys.history import HourlyCounter, HourlyUsage, hour_of, merge, outcome_of
from gateway.keys.model import ApiKey, Permission, UsageDelta
from gateway.keys.store.base import KeyStore, StoreError

_USAGE_COUNTER = {
    Permission.CREATE: "creation_count",
    Permission.EXECUTE: "execution_count",
    Permission.CANCEL: "cancellation_count",
}


# (key id, client address, status, permission, second of the Unix epoch)
Tally = tuple[str, str, int, Permission | None, int]


class UsageCounter:
    def __init__(
        self, store: KeyStore, history: timedelta, seconds: Callable[[], float] = time.time
    ) -> None:
        """`seconds` is the Unix time: it stamps each request (cheaper than a datetime)."""
        self._store = store
        self._seconds = seconds
        self._history = history
        self._tallies: dict[Tally, int] = {}
        self._usage: dict[str, UsageDelta] = {}
        self._hourly = HourlyCounter()
        self._clients = ClientIpCounter()

    def record_rate_limited(self, key_id: str, client_ip: str) -> None:
        """A request refused by the key's own quota: a request made with the key all the same."""
        self.record(key_id, 429, None, client_ip)

    def record(
        self, key_id: str, status: int, permission: Permission | None, client_ip: str
    ) -> None:
        """Every request made with the key, whatever became of it."""
        tally = (key_id, client_ip, status, permission, int(self._seconds()))
        tallies = self._tallies
        tallies[tally] = tallies.get(tally, 0) + 1

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._seconds(), UTC)

    def _fold(self) -> None:
        """Count the tallies into the lifetime, hourly and client-address counters."""
        tallies, self._tallies = self._tallies, {}
        moments: dict[int, datetime] = {}
        for (key_id, client_ip, status, permission, second), requests in tallies.items():
            moment = moments.get(second)
            if moment is None:
                moment = moments[second] = datetime.fromtimestamp(second, UTC)
            self._hourly.add(key_id, moment, outcome_of(status), requests)
            self._clients.add(key_id, client_ip, moment, requests)
            delta = self._usage.get(key_id)
            if delta is None:
                delta = self._usage[key_id] = UsageDelta()
            delta.total_requests += requests
            if delta.last_used_at is None or moment > delta.last_used_at:
                delta.last_used_at = moment
            if status < 400:
                delta.successful_requests += requests
                if permission is not None:
                    counter = _USAGE_COUNTER[permission]
                    setattr(delta, counter, getattr(delta, counter) + requests)
            else:
                delta.failed_requests += requests
                if status == 429:
                    delta.rate_limited_requests += requests

    def with_pending(self, key: ApiKey) -> ApiKey:
        self._fold()
        delta = self._usage.get(key.id)
        if delta is None or delta.is_empty():
            return key
        last_used = key.last_used_at
        if delta.last_used_at is not None and (last_used is None or delta.last_used_at > last_used):
            last_used = delta.last_used_at
        return replace(key, usage=key.usage.plus(delta), last_used_at=last_used)

    async def hourly_for(self, keys: Sequence[ApiKey]) -> dict[str, list[HourlyUsage]]:
        """Each key's hours within the history window, flushed or not, oldest first."""
        since = hour_of(self._now() - self._history)
        self._fold()
        stored = await self._store.hourly_usage([k.id for k in keys], since)
        return {
            k.id: [
                u
                for u in merge(stored.get(k.id, ()), self._hourly.pending(k.id))
                if u.hour >= since
            ]
            for k in keys
        }

    async def clients_for(self, keys: Sequence[ApiKey]) -> dict[str, list[ClientIp]]:
        """Each key's most recent client addresses, flushed or not."""
        stored = await self._store.client_ips([k.id for k in keys])
        self._fold()
        return {
            k.id: merge_clients(stored.get(k.id, ()), self._clients.pending(k.id)) for k in keys
        }

    async def flush(self) -> list[KeyEvent]:
        """Write the counted usage in one batch (the `new_ip` events it made are
        returned); keep it for next time on failure."""
        self._fold()
        if not self._usage and not self._hourly and not self._clients:
            return []
        batch, self._usage = self._usage, {}
        hourly = self._hourly.take()
        clients = self._clients.take()
        try:
            return await self._store.add_usage(
                batch, hourly, keep_since=self._now() - self._history, clients=clients
            )
        except StoreError:
            for key_id, delta in batch.items():
                self._usage.setdefault(key_id, UsageDelta()).add(delta)
            self._hourly.restore(hourly)
            self._clients.restore(clients)
            raise
