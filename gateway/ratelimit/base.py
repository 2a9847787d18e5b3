"""Rate-limit records, header rendering and the backend protocol.

Windows are fixed and aligned to the epoch: window ``i`` of length ``s``
covers ``[i*s, (i+1)*s)``. A decision is all-or-nothing across the windows of
a scope; the backends (``memory.py``, ``redis.py``) only count, and build
their answer by the rule of :func:`quota_from_counts` so they agree to the
header (the memory backend's one-pass admission inlines that rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Protocol

from multidict import istr

from gateway.records import record

# Header names as `istr`: a response's headers take them without normalising each time.
X_RATELIMIT_LIMIT: Final = istr("X-RateLimit-Limit")
X_RATELIMIT_REMAINING: Final = istr("X-RateLimit-Remaining")
X_RATELIMIT_RESET: Final = istr("X-RateLimit-Reset")
X_RATELIMIT_WINDOW: Final = istr("X-RateLimit-Window")
RATELIMIT_POLICY: Final = istr("RateLimit-Policy")
RATELIMIT: Final = istr("RateLimit")
RETRY_AFTER: Final = istr("Retry-After")


class LimiterError(Exception):
    """The counter backend is unreachable or failed; the gateway applies `redis.on_error`."""


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    seconds: int
    limit: int
    # Header texts that never change for a window: rendered once here, not
    # on every response that carries them.
    limit_text: str = field(init=False, repr=False, compare=False)
    seconds_text: str = field(init=False, repr=False, compare=False)
    policy_text: str = field(init=False, repr=False, compare=False)
    remaining_prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The name is rendered inside a quoted structured-field string.
        if '"' in self.name or "\\" in self.name or not self.name:
            raise ValueError(f"invalid rate-limit window name {self.name!r}")
        if self.seconds < 1:
            raise ValueError(f"window {self.name!r}: seconds must be >= 1")
        if self.limit < 0:
            raise ValueError(f"window {self.name!r}: limit must be >= 0")
        texts = {
            "limit_text": str(self.limit),
            "seconds_text": str(self.seconds),
            "policy_text": f'"{self.name}";q={self.limit};w={self.seconds}',
            "remaining_prefix": f'"{self.name}";r=',
        }
        for name, text in texts.items():
            object.__setattr__(self, name, text)


@record
class WindowState:
    window: Window
    remaining: int
    reset: int  # epoch seconds of this window's end (the next boundary)


class RateLimited(Exception):
    """A scope has no room: `quota` is the refusing decision (nothing was counted),
    `now` the clock it was judged by, for the headers of the answer."""

    def __init__(self, quota: Quota, now: float) -> None:
        super().__init__(quota.scope)
        self.quota = quota
        self.now = now


@record
class Quota:
    allowed: bool
    scope: str
    states: tuple[WindowState, ...]
    binding: WindowState
    # `policy_header` of the states' windows, when the builder already knew
    # it; derived from `states` otherwise.
    policy: str = field(default="", repr=False, compare=False)

    def headers(self, now: float) -> dict[str, str]:
        """Response headers: the binding window plus the IETF policy of every window."""
        return dict(self.header_items(now))

    def header_items(self, now: float) -> list[tuple[str, str]]:
        """`headers` as (name, value) pairs, names pre-normalised for a response's
        case-insensitive headers: every answer carries them, so they are built the
        cheap way (the texts that never change live on the `Window`)."""
        binding = self.binding
        window = binding.window
        remaining = str(binding.remaining)
        reset = binding.reset
        # ceil(reset - now) for a whole-second reset, without a float call.
        until_reset = reset - int(now)
        if until_reset < 0:
            until_reset = 0
        policy = self.policy or policy_header(tuple([s.window for s in self.states]))
        items: list[tuple[str, str]] = [
            (X_RATELIMIT_LIMIT, window.limit_text),
            (X_RATELIMIT_REMAINING, remaining),
            (X_RATELIMIT_RESET, str(reset)),
            (X_RATELIMIT_WINDOW, window.seconds_text),
            (RATELIMIT_POLICY, policy),
            (RATELIMIT, f"{window.remaining_prefix}{remaining};t={until_reset}"),
        ]
        if not self.allowed:
            items.append((RETRY_AFTER, str(self.retry_after(now))))
        return items

    def retry_after(self, now: float) -> int:
        """Seconds until every full window has reset, so a retry then can succeed.

        In a refused decision nothing was counted, so the full windows are
        exactly those with nothing remaining.
        """
        full = [s.reset for s in self.states if s.remaining == 0]
        reset = max(full) if full else self.binding.reset
        return max(math.ceil(reset - now), 1)

    def details(self) -> dict[str, str | int]:
        """The `details` object of a 429 body."""
        return {
            "scope": self.scope,
            "limit": self.binding.window.limit,
            "window": self.binding.window.seconds,
            "reset": self.binding.reset,
        }


@lru_cache(maxsize=1024)
def policy_header(windows: tuple[Window, ...]) -> str:
    """`RateLimit-Policy` value; cached because window sets repeat on every response."""
    return ", ".join([w.policy_text for w in windows])


def quota_from_counts(
    allowed: bool,
    scope: str,
    windows: Sequence[Window],
    counts: Sequence[int],
    resets: Sequence[int],
) -> Quota:
    """Build the decision from per-window counts.

    `counts` are after the increment when admitted, untouched when refused.
    Binding = least remaining, ties to the shortest window. When refused,
    the refusing windows are exactly those at zero and every other one has at
    least one left, so the same rule picks the shortest refusing window.
    """
    states: list[WindowState] = []
    binding: WindowState | None = None
    least = 0
    for position, window in enumerate(windows):
        remaining = window.limit - counts[position]
        if remaining < 0:  # the limit was lowered inside the window
            remaining = 0
        state = WindowState(window, remaining, resets[position])
        states.append(state)
        if (
            binding is None
            or remaining < least
            or (remaining == least and window.seconds < binding.window.seconds)
        ):
            binding = state
            least = remaining
    if binding is None:
        raise ValueError("a rate-limit scope needs at least one window")
    return Quota(allowed, scope, tuple(states), binding, policy_header(tuple(windows)))


class Limiter(Protocol):
    async def hit(self, scope: str, identity: str, windows: Sequence[Window], now: float) -> Quota:
        """Admit only if every window has room; count in all windows or in none."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise `LimiterError` when the backend is unreachable."""
        ...
