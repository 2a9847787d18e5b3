"""Dependency health: the store, the rate limiter (Redis when configured), the upstream.

One watcher probes them all, for `/readyz` and on a timer, and logs each
transition once (`dependency.down`, then `dependency.up` when it answers
again), so an outage is one line, not one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from gateway.http.context import GATEWAY
from gateway.logs import log_event, redact

log = logging.getLogger("walletgate.health")

PROBE_TIMEOUT_S: Final = 2.0
MAX_REASON: Final = 200

Probe = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    reason: str | None = None

    @property
    def state(self) -> str:
        return "ok" if self.ok else "unavailable"


@dataclass(frozen=True, slots=True)
class Dependency:
    name: str  # as /readyz names it: store, rateLimiter, upstream
    kind: str  # sqlite, postgresql, redis, memory, http
    probe: Probe
    # Where it is (host:port, a file): never its credentials.
    address: str = ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT_S:g}s"
    text = redact(str(exc)) or type(exc).__name__
    return text[:MAX_REASON]


Observe = Callable[[str, str, bool], None]


def _ignore(dependency: str, kind: str, up: bool) -> None:
    return None


class HealthWatch:
    def __init__(self, dependencies: tuple[Dependency, ...], observe: Observe = _ignore) -> None:
        self.dependencies = dependencies
        self._up: dict[str, bool] = {}
        # Every probe's result, for the walletgate_dependency_up gauge.
        self._observe = observe

    @property
    def checked(self) -> bool:
        """Whether any probe has run yet (the first one waits an interval)."""
        return bool(self._up)

    async def check(self) -> dict[str, Check]:
        results = await asyncio.gather(*(self._probe(d) for d in self.dependencies))
        checks = {d.name: c for d, c in zip(self.dependencies, results, strict=True)}
        for dependency in self.dependencies:
            self.note(dependency, checks[dependency.name])
        return checks

    async def _probe(self, dependency: Dependency) -> Check:
        try:
            await asyncio.wait_for(dependency.probe(), PROBE_TIMEOUT_S)
        except Exception as exc:  # any failure means "not answering"; the reason says which
            return Check(False, _reason(exc))
        return Check(True)

    def note(self, dependency: Dependency, check: Check) -> None:
        """Log a transition; the first look logs only a dependency that is down."""
        before = self._up.get(dependency.name)
        self._up[dependency.name] = check.ok
        self._observe(dependency.name, dependency.kind, check.ok)
        if (before is None and check.ok) or before == check.ok:
            return
        if check.ok:
            log_event(
                log,
                logging.INFO,
                "dependency.up",
                dependency=dependency.name,
                kind=dependency.kind,
                address=dependency.address,
            )
        else:
            log_event(
                log,
                logging.WARNING,
                "dependency.down",
                dependency=dependency.name,
                kind=dependency.kind,
                address=dependency.address,
                reason=check.reason,
            )

    async def watch(self, interval: Callable[[], float]) -> None:
        """Probe forever; `interval` is read each round so a reload can change it."""
        while True:
            # The start line already says what is configured; the first look waits.
            await asyncio.sleep(interval())
            with contextlib.suppress(Exception):
                await self.check()


def readiness(checks: Mapping[str, Check], *, requires_upstream: bool) -> bool:
    return all(c.ok for name, c in checks.items() if name != "upstream" or requires_upstream)


def store_kind(url: str) -> str:
    scheme = url.partition("://")[0].lower()
    return "postgresql" if scheme in ("postgresql", "postgres") else scheme


def limiter_kind(redis_url: str) -> str:
    return "redis" if redis_url else "memory"


def address_of(url: str) -> str:
    """`host:port` (and a database or a file), without user, password or query."""
    if not url:
        return "in-process"
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return url.partition("://")[2].removeprefix("/") or ":memory:"
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{shown}{port}{parts.path if parts.scheme.startswith('postgres') else ''}"


async def health_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the watcher of this app's dependencies, probing in the background."""
    gw = app[GATEWAY]
    settings = gw.settings
    watch = HealthWatch(
        (
            Dependency(
                "store",
                store_kind(settings.store.url),
                gw.store.ping,
                address_of(settings.store.url),
            ),
            Dependency(
                "rateLimiter",
                limiter_kind(settings.redis.url),
                gw.limiter.ping,
                address_of(settings.redis.url),
            ),
            Dependency("upstream", "http", gw.forwarder.probe, address_of(settings.upstream.url)),
        ),
        observe=gw.metrics.set_dependency,
    )
    app[HEALTH] = watch
    task = asyncio.create_task(watch.watch(lambda: app[GATEWAY].settings.log.health_interval_s))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


HEALTH: Final = web.AppKey("health", HealthWatch)
