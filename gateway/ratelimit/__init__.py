"""Rate limiting: fixed epoch-aligned windows, one protocol, two backends (memory, Redis).

The registry lives here, apart from its backends, so `base` never imports them.
"""

from gateway.ratelimit.base import (
    Limiter,
    LimiterError,
    Quota,
    RateLimited,
    Window,
    WindowState,
    policy_header,
)
from gateway.ratelimit.memory import MemoryLimiter


def open_limiter(url: str, *, prefix: str = "wg") -> Limiter:
    """Choose the backend by URL: "" / "memory://" in-process, "redis://" / "rediss://"
    shared, "redis+cluster://" shared over a Redis Cluster."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not url or (scheme == "memory" and sep):
        from gateway.ratelimit.memory import MemoryLimiter

        return MemoryLimiter()
    if sep and scheme in ("redis", "rediss"):
        from gateway.ratelimit.redis import RedisLimiter

        return RedisLimiter.from_url(url, prefix=prefix)
    if sep and scheme in ("redis+cluster", "rediss+cluster"):
        from gateway.ratelimit.cluster import RedisClusterLimiter

        return RedisClusterLimiter.from_url(url, prefix=prefix)
    raise ValueError(
        f"unsupported rate-limit backend URL scheme {scheme!r}"
        " (memory://, redis://, redis+cluster://)"
    )


__all__ = [
    "Limiter",
    "LimiterError",
    "MemoryLimiter",
    "Quota",
    "RateLimited",
    "Window",
    "WindowState",
    "open_limiter",
    "policy_header",
]
