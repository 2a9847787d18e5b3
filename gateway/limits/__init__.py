"""Rate limiting: fixed epoch-aligned windows, one protocol, two backends (memory, Redis)."""

from gateway.limits.memory import MemoryLimiter
from gateway.limits.policy import (
    Limiter,
    LimiterError,
    Quota,
    Window,
    WindowState,
    open_limiter,
    policy_header,
)

__all__ = [
    "Limiter",
    "LimiterError",
    "MemoryLimiter",
    "Quota",
    "Window",
    "WindowState",
    "open_limiter",
    "policy_header",
]
