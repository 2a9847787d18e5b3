"""Prometheus collectors, created once per application.

Each application has its own registry, so several gateways in one process
(tests) never share counters. Label children are bound once per label set
and reused: `labels()` costs about a microsecond, too much per request.
Labels are route templates, methods, statuses and closed sets of reasons:
never a key, a wallet or an address, so cardinality stays bounded.

The per-request figures (request count, request and upstream durations,
signature checks) are tallied in plain dicts and handed to prometheus_client
in batches: its `inc` and `observe` take a lock per value, which cost about
10 µs of every request. `flush` runs before each scrape and every second (so that the
supervisor of `--workers` reads fresh multiprocess files), and at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass(slots=True)
class _Tally:
    """Observations of one histogram child since the last flush (non-cumulative buckets)."""

    buckets: list[int]
    total: float = 0.0


@dataclass(slots=True)
class _Pending:
    """Per-request figures counted since the last flush."""

    requests: dict[tuple[str, str, int, str], int] = field(default_factory=dict)
    durations: dict[str, _Tally] = field(default_factory=dict)
    upstream: dict[str, _Tally] = field(default_factory=dict)
    signatures: dict[tuple[str, str], int] = field(default_factory=dict)


# How stale the multiprocess files of `--workers` may be (a single process
# flushes before every scrape as well).
FLUSH_INTERVAL_S = 1.0

# Upper bounds as prometheus_client keeps them (+Inf last): `bisect_left` finds
# the first bound >= the value, the bucket `observe` would count it in.
_BOUNDS = (*LATENCY_BUCKETS, float("inf"))


def _tally(tallies: dict[str, _Tally], route: str, seconds: float) -> None:
    tally = tallies.get(route)
    if tally is None:
        tally = tallies[route] = _Tally([0] * len(_BOUNDS))
    tally.buckets[bisect_left(_BOUNDS, seconds)] += 1
    tally.total += seconds


def _add_to_histogram(child: Any, tally: _Tally) -> None:
    # prometheus_client has no "observe n values" call; a histogram child
    # keeps one value per bucket (non-cumulative, in `_upper_bounds` order)
    # plus the sum, each with an `inc`: the same values `observe` changes.
    for bucket, count in zip(child._buckets, tally.buckets, strict=True):
        if count:
            bucket.inc(count)
    child._sum.inc(tally.total)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "walletgate_requests",
            "Requests answered, by route template, method, status and auth method.",
            ["route", "method", "status", "auth"],
            registry=r,
        )
        self.request_duration = Histogram(
            "walletgate_request_duration_seconds",
            "Time from request to response, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_duration = Histogram(
            "walletgate_upstream_duration_seconds",
            "Time the upstream took to answer, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.auth_failures = Counter(
            "walletgate_auth_failures",
            "Refused authentications, by reason.",
            ["reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "walletgate_rate_limited", "Requests refused with 429, by scope.", ["scope"], registry=r
        )
        self.signature_verifications = Counter(
            "walletgate_signature_verifications",
            "Wallet signature checks, by chain and result.",
            ["chain", "result"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "walletgate_upstream_errors",
            "Upstream failures, by kind (unavailable, timeout).",
            ["kind"],
            registry=r,
        )
        # Read from the store on scrape; under workers only the supervisor
        # sets it, and any process's latest reading would be right.
        self.api_keys = Gauge(
            "walletgate_api_keys",
            "Stored API keys, by status.",
            ["status"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.rate_limiter_errors = Counter(
            "walletgate_rate_limiter_errors",
            "Decisions the shared limiter could not make (admitted when redis.on_error=open).",
            registry=r,
        )
        # Set by each process's dependency watcher; under workers the lowest
        # of the live ones, so one process that cannot reach Redis shows.
        self.dependency_up = Gauge(
            "walletgate_dependency_up",
            "1 when a dependency (store, rateLimiter, upstream) answered its last probe, else 0.",
            ["dependency", "kind"],
            registry=r,
            multiprocess_mode="livemin",
        )
        self.owner_lookups = Counter(
            "walletgate_owner_lookups",
            "Order-owner lookups sent to the upstream (cache misses).",
            registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._pending = _Pending()
        self._flusher: asyncio.Task[None] | None = None
        if tuple(self.request_duration._upper_bounds) != _BOUNDS:
            raise RuntimeError("prometheus_client keeps histogram buckets differently")

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(
        self, route: str, method: str, status: int, auth: str, seconds: float
    ) -> None:
        pending = self._pending
        key = (route, method, status, auth)
        requests = pending.requests
        requests[key] = requests.get(key, 0) + 1
        _tally(pending.durations, route, seconds)

    def observe_upstream(self, route: str, seconds: float) -> None:
        _tally(self._pending.upstream, route, seconds)

    def flush(self) -> None:
        """Hand the tallied per-request figures to prometheus_client."""
        pending, self._pending = self._pending, _Pending()
        for (route, method, status, auth), count in pending.requests.items():
            self._child(self.requests, route, method, str(status), auth).inc(count)
        for route, tally in pending.durations.items():
            _add_to_histogram(self._child(self.request_duration, route), tally)
        for route, tally in pending.upstream.items():
            _add_to_histogram(self._child(self.upstream_duration, route), tally)
        for (chain, result), count in pending.signatures.items():
            self._child(self.signature_verifications, chain, result).inc(count)

    def count_auth_failure(self, reason: str) -> None:
        self._child(self.auth_failures, reason).inc()

    def count_rate_limited(self, scope: str) -> None:
        self._child(self.rate_limited, scope).inc()

    def count_signature(self, chain: str, result: str) -> None:
        signatures = self._pending.signatures
        key = (chain, result)
        signatures[key] = signatures.get(key, 0) + 1

    def count_upstream_error(self, kind: str) -> None:
        self._child(self.upstream_errors, kind).inc()

    def set_dependency(self, dependency: str, kind: str, up: bool) -> None:
        self._child(self.dependency_up, dependency, kind).set(1 if up else 0)

    def set_key_counts(self, counts: dict[str, int]) -> None:
        for status in ("active", "suspended", "revoked"):
            self._child(self.api_keys, status).set(counts.get(status, 0))

    async def start(self, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._flusher = asyncio.create_task(self._flush_every(interval_s))

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        self.flush()

    async def _flush_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.flush()

    def render(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)
