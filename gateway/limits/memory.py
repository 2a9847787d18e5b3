"""In-process rate-limit counters for one gateway process.

A decision runs without any await between the check and the increment, so it
is exact under asyncio concurrency. Per window length only the newest window
index is kept: when time reaches a new index the whole table of the old one
is dropped at once, which keeps memory bounded by the identities seen in the
current windows at O(1) amortised cost per hit.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.limits.policy import Quota, Window, quota_from_counts


class _Table:
    """Counters of every identity for one window length, in its newest window."""

    __slots__ = ("counts", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.counts: dict[tuple[str, str], int] = {}


class MemoryLimiter:
    __slots__ = ("_tables",)

    def __init__(self) -> None:
        self._tables: dict[int, _Table] = {}

    async def hit(self, scope: str, identity: str, windows: Sequence[Window], now: float) -> Quota:
        return self.decide(scope, identity, windows, now)

    def decide(self, scope: str, identity: str, windows: Sequence[Window], now: float) -> Quota:
        """The synchronous decision behind `hit`."""
        key = (scope, identity)
        seconds_now = int(now)  # floor(now / s) == floor(int(now) / s) for integer s, now >= 0
        by_length = self._tables
        tables: list[dict[tuple[str, str], int]] = []
        counts: list[int] = []
        resets: list[int] = []
        allowed = True
        for window in windows:
            seconds = window.seconds
            index = seconds_now // seconds
            table = by_length.get(seconds)
            if table is None or index != table.index:
                table = self._advance(seconds, index)
            count = table.counts.get(key, 0)
            if count >= window.limit:
                allowed = False
            tables.append(table.counts)
            counts.append(count)
            resets.append((table.index + 1) * seconds)
        if allowed:
            # Re-read per window so the counts are those an INCR would return,
            # exactly as the Redis script does.
            for position, table_counts in enumerate(tables):
                count = table_counts.get(key, 0) + 1
                table_counts[key] = count
                counts[position] = count
        return quota_from_counts(allowed, scope, windows, counts, resets)

    def _advance(self, seconds: int, index: int) -> _Table:
        table = self._tables.get(seconds)
        if table is None:
            table = self._tables[seconds] = _Table(index)
        elif index > table.index:
            # A new window began: every counter of the old one is dead.
            table.index = index
            table.counts = {}
        # index < table.index means the clock stepped back: count in the newest
        # window, which can only refuse earlier, never admit more than the limit.
        return table

    def live_counters(self) -> int:
        """Counters held in memory (for tests and diagnostics)."""
        return sum(len(table.counts) for table in self._tables.values())

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._tables.clear()
