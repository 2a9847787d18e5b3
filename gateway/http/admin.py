"""The admin listener: /metrics, /healthz, /readyz (§3.4).

It shares the main application's `Gateway`, so it must run beside the main
app, which opens and closes the parts. An optional bearer token guards it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.errors import ApiError, ErrorCode, error_body
from gateway.http.context import GATEWAY, Gateway
from gateway.keys.store import StoreError
from gateway.ratelimit import LimiterError

READY_TIMEOUT_S = 2.0


class ServingProcesses(Protocol):
    """The worker processes serving the public port (under a supervisor)."""

    @property
    def configured(self) -> int: ...

    def running(self) -> int: ...

    def render_metrics(self) -> bytes:
        """The exposition of every worker's metrics, summed, and the supervisor's own."""
        ...


WORKERS = web.AppKey("workers", ServingProcesses)


def build_admin_app(
    main_app: web.Application, workers: ServingProcesses | None = None
) -> web.Application:
    """`workers` given: the metrics are theirs and health and readiness need one running."""
    gw = main_app[GATEWAY]
    app = web.Application(middlewares=[_bearer_token(gw.settings.admin.token)])
    app[GATEWAY] = gw
    if workers is not None:
        app[WORKERS] = workers
    app.router.add_get("/metrics", metrics, allow_head=False)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz, allow_head=False)
    return app


def _bearer_token(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # /healthz stays open so container health checks need no secret.
        if token and request.path != "/healthz":
            sent = request.headers.get("Authorization", "").encode("utf-8", "surrogatepass")
            if not hmac.compare_digest(sent, expected):
                error = ApiError(ErrorCode.UNAUTHORIZED, "Admin token required")
                return web.json_response(
                    error.body(), status=401, headers={"WWW-Authenticate": "Bearer"}
                )
        return await handler(request)

    return check


async def metrics(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    # Store down: the gauge keeps its last value; /readyz reports the store.
    with contextlib.suppress(StoreError):
        counts = await gw.store.count_by_status()
        gw.metrics.set_key_counts({status.value: n for status, n in counts.items()})
    workers = request.app.get(WORKERS)
    body = gw.metrics.render() if workers is None else workers.render_metrics()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def healthz(request: web.Request) -> web.Response:
    workers = request.app.get(WORKERS)
    if workers is not None and workers.running() == 0:
        body = error_body(ErrorCode.SERVICE_UNAVAILABLE, "No worker running", _counts(workers))
        return web.json_response(body, status=503)
    return web.json_response({"status": "ok"})


def _counts(workers: ServingProcesses) -> dict[str, object]:
    return {"workers": {"running": workers.running(), "configured": workers.configured}}


async def readyz(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    checks = {
        "store": await _check(gw.store.ping()),
        "rateLimiter": await _check(gw.limiter.ping()),
        "upstream": await _check(_upstream_reachable(gw)),
    }
    workers = request.app.get(WORKERS)
    if workers is not None:
        # One live worker serves (more slowly): a restart in progress must
        # not take the host out of the load balancer.
        checks["workers"] = "ok" if workers.running() > 0 else "unavailable"
    extra = _counts(workers) if workers is not None else {}
    ready = all(state == "ok" for state in checks.values())
    if ready:
        return web.json_response({"status": "ready", "checks": checks, **extra})
    body = error_body(ErrorCode.SERVICE_UNAVAILABLE, "Not ready", {"checks": checks, **extra})
    return web.json_response(body, status=503)


async def _check(probe: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT_S)
    except (StoreError, LimiterError, ApiError, TimeoutError, OSError):
        return "unavailable"
    return "ok"


async def _upstream_reachable(gw: Gateway) -> None:
    """Any HTTP answer from the upstream's root means it is there."""
    await gw.forwarder.probe()
