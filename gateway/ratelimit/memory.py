"""In-process rate-limit counters for one gateway process.

A decision runs without any await between the check and the increment, so it
is exact under asyncio concurrency. Per window length only the newest window
index is kept: when time reaches a new index the whole table of the old one
is dropped at once, which keeps memory bounded by the identities seen in the
current windows at O(1) amortised cost per hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.ratelimit.base import Quota, Window, WindowState, policy_header, quota_from_counts

# Window sets are a handful of tuples reused on every request; more than this
# many distinct ones means callers build them per call, and the cache restarts.
_MAX_WINDOW_SETS = 256


class _Table:
    """Counters of every identity for one window length, in its newest window."""

    __slots__ = ("counts", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.counts: dict[tuple[str, str], int] = {}


@dataclass(frozen=True, slots=True)
class _WindowSet:
    """What a decision needs to know about one tuple of windows, worked out once."""

    windows: tuple[Window, ...]
    policy: str  # the RateLimit-Policy header
    # Every window has its own length, so each counter table is touched once.
    distinct_lengths: bool
    # (window, its length, its limit, the table of its length) in window order:
    # what the one-pass decision reads per window, without attribute or table
    # lookups. A table object lives as long as the limiter (a new window
    # replaces its counts, never the table).
    plan: tuple[tuple[Window, int, int, _Table], ...]


class MemoryLimiter:
    __slots__ = ("_tables", "_window_sets")

    def __init__(self) -> None:
        self._tables: dict[int, _Table] = {}
        # id(windows) -> its _WindowSet. The entry holds the tuple, so that id
        # cannot be reused by another object while it is cached.
        self._window_sets: dict[int, _WindowSet] = {}

    async def hit(self, scope: str, identity: str, windows: Sequence[Window], now: float) -> Quota:
        return self.decide(scope, identity, windows, now)

    def decide(self, scope: str, identity: str, windows: Sequence[Window], now: float) -> Quota:
        """The synchronous decision behind `hit`."""
        window_set = self._window_sets.get(id(windows))
        if window_set is None or window_set.windows is not windows:
            window_set = self._window_set(windows)
        if window_set is not None and window_set.distinct_lengths:
            quota = self._admit_in_one_pass(scope, identity, window_set, now)
            if quota is not None:
                return quota
        return self._decide_in_two_passes(scope, identity, windows, now)

    def _admit_in_one_pass(
        self, scope: str, identity: str, window_set: _WindowSet, now: float
    ) -> Quota | None:
        """Count in every window and build the admitting quota; None, counting
        nothing, when a window is full.

        Most requests are admitted, so counting while checking and undoing on
        the rare refusal costs one pass instead of two.
        """
        key = (scope, identity)
        seconds_now = int(now)  # floor(now / s) == floor(int(now) / s) for integer s, now >= 0
        states: list[WindowState] = []
        binding: WindowState | None = None
        least = binding_seconds = 0
        for window, seconds, limit, table in window_set.plan:
            index = seconds_now // seconds
            if index != table.index:
                self._advance(seconds, index)
            counts = table.counts
            count = counts.get(key, 0) + 1
            if count > limit:
                self._undo(key, states)
                return None
            counts[key] = count
            remaining = limit - count
            state = WindowState(window, remaining, (table.index + 1) * seconds)
            states.append(state)
            # The rule of `quota_from_counts`: least remaining, ties to the shortest.
            if (
                binding is None
                or remaining < least
                or (remaining == least and seconds < binding_seconds)
            ):
                binding = state
                least = remaining
                binding_seconds = seconds
        if binding is None:
            raise ValueError("a rate-limit scope needs at least one window")
        return Quota(True, scope, tuple(states), binding, window_set.policy)

    def _undo(self, key: tuple[str, str], counted: list[WindowState]) -> None:
        # Counters are stored from 1 up, so a count back at 0 was absent before.
        for state in counted:
            counts = self._tables[state.window.seconds].counts
            count = counts[key] - 1
            if count:
                counts[key] = count
            else:
                del counts[key]

    def _decide_in_two_passes(
        self, scope: str, identity: str, windows: Sequence[Window], now: float
    ) -> Quota:
        """Check every window, then count in all of them or in none."""
        key = (scope, identity)
        seconds_now = int(now)
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
            # exactly as the Redis script does (windows of one length share a table).
            for position, table_counts in enumerate(tables):
                count = table_counts.get(key, 0) + 1
                table_counts[key] = count
                counts[position] = count
        return quota_from_counts(allowed, scope, windows, counts, resets)

    def _window_set(self, windows: Sequence[Window]) -> _WindowSet | None:
        if type(windows) is not tuple:
            # A list could change after this call: never cached by identity.
            return None
        lengths = {window.seconds for window in windows}
        plan = tuple((w, w.seconds, w.limit, self._table(w.seconds)) for w in windows)
        distinct = len(lengths) == len(windows)
        window_set = _WindowSet(windows, policy_header(windows), distinct, plan)
        if len(self._window_sets) >= _MAX_WINDOW_SETS:
            self._window_sets.clear()
        self._window_sets[id(windows)] = window_set
        return window_set

    def _table(self, seconds: int) -> _Table:
        """The table of windows of this length; made (with no window yet) on first use."""
        table = self._tables.get(seconds)
        if table is None:
            table = self._tables[seconds] = _Table(-1)
        return table

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
        self._window_sets.clear()
