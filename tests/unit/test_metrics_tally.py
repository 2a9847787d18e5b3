"""The batched tally exposes exactly what prometheus_client's own `observe` would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import LATENCY_BUCKETS, Metrics

ROUTE = "/api/v1/orders/{uuid}/execute"
# Below the first bound, exactly on bounds, between them, beyond the last.
DURATIONS = (0.0001, 0.0005, 0.001, 0.0011, 0.004, 0.25, 0.2501, 10.0, 12.5, 0.0)


def samples(text: bytes, name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
        if s.name.startswith(name) and not s.name.endswith("_created")
    }


def reference() -> bytes:
    registry = CollectorRegistry()
    duration = Histogram(
        "walletgate_request_duration_seconds", "", ["route"], buckets=LATENCY_BUCKETS,
        registry=registry,
    )  # fmt: skip
    requests = Counter(
        "walletgate_requests", "", ["route", "method", "status", "auth"], registry=registry
    )
    for seconds in DURATIONS:
        duration.labels(ROUTE).observe(seconds)
        requests.labels(ROUTE, "POST", "200", "api_key").inc()
    return generate_latest(registry)


def test_tallied_requests_and_durations_match_direct_observation():
    metrics = Metrics()
    for seconds in DURATIONS:
        metrics.observe_request(ROUTE, "POST", 200, "api_key", seconds)
    rendered = metrics.render()
    for name in ("walletgate_request_duration_seconds", "walletgate_requests_total"):
        assert samples(rendered, name) == samples(reference(), name)


def test_nothing_is_lost_across_flushes():
    metrics = Metrics()
    metrics.observe_request(ROUTE, "POST", 200, "api_key", 0.002)
    metrics.flush()
    metrics.observe_request(ROUTE, "POST", 200, "api_key", 0.003)
    metrics.count_signature("stacks", "valid")
    metrics.observe_upstream(ROUTE, 0.001)
    rendered = metrics.render()
    counts = samples(rendered, "walletgate_request_duration_seconds_count")
    assert list(counts.values()) == [2.0]
    assert list(samples(rendered, "walletgate_signature_verifications_total").values()) == [1.0]
    assert list(samples(rendered, "walletgate_upstream_duration_seconds_count").values()) == [1.0]
