"""Where each key is used from: client addresses, counted in memory.

Counted beside the usage counters and written in the same batch flush, so
the request path never writes to the store. Whether an address is new to a
key (not used by it in the last 30 days) is decided by the store at flush
time, in the flush's transaction: several processes flushing the same
address at once record one `new_ip` event between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from gateway.timestamps import utc_timestamp

# An address unused by a key for this long is new to it again.
NEW_IP_AFTER: Final = timedelta(days=30)
# The most recent addresses a wallet sees per key.
SHOWN_CLIENT_IPS: Final = 20
# Addresses kept per key beyond the 30 days, so a key used from very many
# addresses (a leaked one) cannot grow the store without bound.
KEPT_CLIENT_IPS: Final = 1000

ClientKey = tuple[str, str]  # (key id, client address)


@dataclass(frozen=True, slots=True)
class ClientIp:
    """One address of one key: its current run of use (it restarts after 30 idle days)."""

    ip: str
    first_seen: datetime
    last_seen: datetime
    requests: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "firstSeen": utc_timestamp(self.first_seen),
            "lastSeen": utc_timestamp(self.last_seen),
            "requests": self.requests,
        }


def is_new_run(known: ClientIp | None, seen: ClientIp) -> bool:
    """Whether `seen` starts a new run of this address (a `new_ip` event)."""
    return known is None or seen.first_seen - known.last_seen > NEW_IP_AFTER


def combine(known: ClientIp | None, seen: ClientIp) -> ClientIp:
    """The stored address after counting `seen` onto it (batches may arrive out of order)."""
    if known is None or is_new_run(known, seen):
        return seen
    return replace(
        known,
        first_seen=min(known.first_seen, seen.first_seen),
        last_seen=max(known.last_seen, seen.last_seen),
        requests=known.requests + seen.requests,
    )


class ClientIpCounter:
    """Addresses seen since the last flush, per key.

    Kept as [first, last, requests] lists, updated in place: far cheaper than
    a new record for every tally folded in.
    """

    def __init__(self) -> None:
        self._seen: dict[ClientKey, list[Any]] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, key_id: str, ip: str, moment: datetime, requests: int = 1) -> None:
        seen = self._seen.get((key_id, ip))
        if seen is None:
            self._seen[(key_id, ip)] = [moment, moment, requests]
            return
        # Folded tallies come in time order, unless the clock stepped back.
        if moment < seen[0]:
            seen[0] = moment
        elif moment > seen[1]:
            seen[1] = moment
        seen[2] += requests

    def take(self) -> dict[ClientKey, ClientIp]:
        seen, self._seen = self._seen, {}
        return {slot: ClientIp(slot[1], *counts) for slot, counts in seen.items()}

    def restore(self, batch: dict[ClientKey, ClientIp]) -> None:
        """Put a batch that failed to flush back, for the next attempt."""
        for slot, seen in batch.items():
            known = self._seen.get(slot)
            if known is not None:
                seen = combine(seen, ClientIp(slot[1], *known))
            self._seen[slot] = [seen.first_seen, seen.last_seen, seen.requests]

    def pending(self, key_id: str) -> list[ClientIp]:
        return [ClientIp(ip, *counts) for (k, ip), counts in self._seen.items() if k == key_id]


def merge_clients(stored: Iterable[ClientIp], pending: Iterable[ClientIp]) -> list[ClientIp]:
    """Stored addresses with unflushed ones counted on, most recent first, the first 20."""
    by_ip = {c.ip: c for c in stored}
    for seen in pending:
        by_ip[seen.ip] = combine(by_ip.get(seen.ip), seen)
    ordered = sorted(by_ip.values(), key=lambda c: (c.last_seen, c.ip), reverse=True)
    return ordered[:SHOWN_CLIENT_IPS]
