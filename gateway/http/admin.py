"""The admin listener: /metrics, /healthz, /readyz.

It shares the main application's `Gateway`, so it must run beside the main
app, which opens and closes the parts. An optional bearer token guards it.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway import __version__
from gateway.errors import ApiError, ErrorCode, error_body
from gateway.http.context import GATEWAY
from gateway.http.health import HEALTH, readiness
from gateway.keys.store import StoreError

MAIN_APP = web.AppKey("main_app", web.Application)


def build_admin_app(main_app: web.Application) -> web.Application:
    gw = main_app[GATEWAY]
    app = web.Application(middlewares=[_bearer_token(gw.settings.admin.token)])
    app[GATEWAY] = gw
    # The watcher is made when the main app starts, which may be after this.
    app[MAIN_APP] = main_app
    app.on_response_prepare.append(neutral_server_header)
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
    body = gw.metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def neutral_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """No aiohttp or Python version for a scanner to match against advisories."""
    response.headers["Server"] = "walletgate"


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the store and the limiter answer; the upstream is reported, and
    decides readiness only with `admin.ready_requires_upstream`."""
    gw = request.app[GATEWAY]
    checks = await request.app[MAIN_APP][HEALTH].check()
    states = {name: check.state for name, check in checks.items()}
    reasons = {name: check.reason for name, check in checks.items() if check.reason}
    if readiness(checks, requires_upstream=gw.settings.admin.ready_requires_upstream):
        return web.json_response({"status": "ready", "checks": states, "reasons": reasons})
    body = error_body(
        ErrorCode.SERVICE_UNAVAILABLE, "Not ready", {"checks": states, "reasons": reasons}
    )
    return web.json_response(body, status=503)
