"""Prometheus collectors, created once per application.

Each application has its own registry, so several gateways in one process
(tests) never share counters. Label children are bound once per label set
and reused: `labels()` costs about a microsecond, too much per request.
Labels are route templates, methods, statuses and closed sets of reasons:
never a key, a wallet or an address, so cardinality stays bounded.
"""

from __future__ import annotations

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
        self.owner_lookups = Counter(
            "walletgate_owner_lookups",
            "Order-owner lookups sent to the upstream (cache misses).",
            registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._request_children: dict[tuple[str, str, int, str], tuple[Any, Any]] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(
        self, route: str, method: str, status: int, auth: str, seconds: float
    ) -> None:
        key = (route, method, status, auth)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(route, method, str(status), auth),
                self.request_duration.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_upstream(self, route: str, seconds: float) -> None:
        self._child(self.upstream_duration, route).observe(seconds)

    def count_auth_failure(self, reason: str) -> None:
        self._child(self.auth_failures, reason).inc()

    def count_rate_limited(self, scope: str) -> None:
        self._child(self.rate_limited, scope).inc()

    def count_signature(self, chain: str, result: str) -> None:
        self._child(self.signature_verifications, chain, result).inc()

    def count_upstream_error(self, kind: str) -> None:
        self._child(self.upstream_errors, kind).inc()

    def set_key_counts(self, counts: dict[str, int]) -> None:
        for status in ("active", "suspended", "revoked"):
            self._child(self.api_keys, status).set(counts.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
