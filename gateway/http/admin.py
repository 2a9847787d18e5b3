"""The admin listener: /metrics, /healthz, /readyz, and the operator API (/admin/v1/).

It shares the main application's `Gateway`, so it must run beside the main
app, which opens and closes the parts. An optional bearer token guards it.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway import __version__
from gateway.errors import ApiError, ErrorCode, error_body
from gateway.http.context import GATEWAY
from gateway.http.health import HEALTH, readiness
from gateway.http.operator_api import PREFIX as OPERATOR_PREFIX
from gateway.http.operator_api import build_operator_app
from gateway.keys.store import StoreError

MAIN_APP = web.AppKey("main_app", web.Application)


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
    # The watcher is made when the main app starts, which may be after this.
    app[MAIN_APP] = main_app
    app.on_response_prepare.append(neutral_server_header)
    if workers is not None:
        app[WORKERS] = workers
    app.router.add_get("/metrics", metrics, allow_head=False)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz, allow_head=False)
    # Always mounted: without [[admin.tokens]] it answers 404 with the error body.
    app.add_subapp(OPERATOR_PREFIX, build_operator_app(gw))
    return app


def _bearer_token(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # /healthz stays open so container health checks need no secret; the
        # operator API checks its own tokens (one Authorization header each).
        if token and request.path != "/healthz" and not _is_operator_path(request.path):
            sent = request.headers.get("Authorization", "").encode("utf-8", "surrogatepass")
            if not hmac.compare_digest(sent, expected):
                error = ApiError(ErrorCode.UNAUTHORIZED, "Admin token required")
                return web.json_response(
                    error.body(), status=401, headers={"WWW-Authenticate": "Bearer"}
                )
        return await handler(request)

    return check


def _is_operator_path(path: str) -> bool:
    return path == OPERATOR_PREFIX or path.startswith(OPERATOR_PREFIX + "/")


async def metrics(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    # Store down: the gauge keeps its last value; /readyz reports the store.
    with contextlib.suppress(StoreError):
        counts = await gw.store.count_by_status()
        gw.metrics.set_key_counts({status.value: n for status, n in counts.items()})
    workers = request.app.get(WORKERS)
    watch = request.app[MAIN_APP].get(HEALTH)
    if workers is None and watch is not None and not watch.checked:
        # The first scrape after start shows walletgate_dependency_up already.
        await watch.check()
    body = gw.metrics.render() if workers is None else workers.render_metrics()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def neutral_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """No aiohttp or Python version for a scanner to match against advisories."""
    response.headers["Server"] = "walletgate"


async def healthz(request: web.Request) -> web.Response:
    workers = request.app.get(WORKERS)
    if workers is not None and workers.running() == 0:
        body = error_body(ErrorCode.SERVICE_UNAVAILABLE, "No worker running", _counts(workers))
        return web.json_response(body, status=503)
    return web.json_response({"status": "ok", "version": __version__})


def _counts(workers: ServingProcesses) -> dict[str, object]:
    return {"workers": {"running": workers.running(), "configured": workers.configured}}


async def readyz(request: web.Request) -> web.Response:
    """Ready when the store and the limiter answer; the upstream is reported, and
    decides readiness only with `admin.ready_requires_upstream`."""
    gw = request.app[GATEWAY]
    checks = await request.app[MAIN_APP][HEALTH].check()
    states = {name: check.state for name, check in checks.items()}
    reasons = {name: check.reason for name, check in checks.items() if check.reason}
    ready = readiness(checks, requires_upstream=gw.settings.admin.ready_requires_upstream)
    details: dict[str, object] = {"checks": states, "reasons": reasons}
    workers = request.app.get(WORKERS)
    if workers is not None:
        # One live worker serves (more slowly): a restart in progress must
        # not take the host out of the load balancer.
        states["workers"] = "ok" if workers.running() > 0 else "unavailable"
        ready = ready and workers.running() > 0
        details |= _counts(workers)
    if ready:
        return web.json_response({"status": "ready", **details})
    body = error_body(ErrorCode.SERVICE_UNAVAILABLE, "Not ready", details)
    return web.json_response(body, status=503)
