"""build_app(settings): the one place that knows every part and wires them.

Request flow (architecture.md): request id and error body (middleware) ->
route policy -> authenticate -> rate limit -> authorise -> handler. The
rate-limit headers and X-Request-ID are added in `on_response_prepare`, which
every response passes, errors, 429s and streamed answers included.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import redis.asyncio as redis_asyncio
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.auth.authenticate import Authenticator
from gateway.auth.authorise import AccessControl
from gateway.auth.ownership import OwnerResolver
from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.config import Settings
from gateway.errors import ApiError, ErrorCode
from gateway.http.access_log import access_enabled, write_access_line
from gateway.http.admin import build_admin_app
from gateway.http.context import (
    AUTH_LABEL,
    CLIENT_IP,
    ERROR_CODE,
    GATEWAY,
    QUOTA,
    REQUEST_ID,
    ROUTE_LABEL,
    Gateway,
    client_ip,
    request_id_for,
)
from gateway.http.health import health_context
from gateway.http.key_routes import add_key_routes
from gateway.http.openapi import openapi_document
from gateway.http.order_schemes import add_order_scheme_routes, scheme_documents
from gateway.http.pipeline import handle_forwarded
from gateway.http.portal import add_portal_routes
from gateway.keys.service import KeyService
from gateway.keys.store import open_store
from gateway.metrics import Metrics
from gateway.ratelimit import open_limiter
from gateway.ratelimit.scopes import QuotaGate, rate_limited
from gateway.upstream.forwarder import Forwarder
from gateway.wallets import SignatureVerifier
from gateway.wallets.order_checks import check_settings, compile_route_schemes
from gateway.wallets.order_verify import OrderVerifier
from gateway.wallets.replay import MemoryReplayGuard, RedisReplayGuard, ReplayGuard

log = logging.getLogger("walletgate")

KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
EVM_DIALECT_PREFIX = "/api-key/"

__all__ = ["build_admin_app", "build_app", "build_gateway"]


def build_gateway(settings: Settings, clock: Callable[[], float] = time.time) -> Gateway:
    metrics = Metrics()
    store = open_store(settings.store.url)
    keys = KeyService(
        store,
        settings.keys,
        clock=lambda: datetime.fromtimestamp(clock(), UTC),
        history_days=settings.usage.history_days,
    )
    limiter = open_limiter(settings.redis.url, prefix=settings.redis.prefix)
    replay = _replay_guard(settings)
    verifier = SignatureVerifier(
        replay=replay,
        chains=settings.signatures.chains,
        max_age_s=settings.signatures.max_age_s,
        clock=clock,
        observe=metrics.count_signature,
    )
    check_settings(settings)
    routes = settings.routes or DEFAULT_ROUTES
    orders = OrderVerifier(
        compile_route_schemes(settings, routes),
        replay=replay,
        replay_ttl_s=settings.signatures.max_age_s,
        chains=settings.signatures.chains,
        observe=metrics.count_signature,
    )
    authenticator = Authenticator(keys, verifier, orders)
    forwarder = Forwarder(
        settings.upstream.url or "http://127.0.0.1:0",
        timeout_s=settings.upstream.timeout_s,
        max_connections=settings.upstream.max_connections,
    )
    owners = OwnerResolver(
        forwarder,
        owner_field=settings.upstream.owner_field,
        cache_size=settings.upstream.owner_cache_size,
        on_lookup=metrics.owner_lookups.inc,
    )
    return Gateway(
        settings=settings,
        metrics=metrics,
        store=store,
        keys=keys,
        limiter=limiter,
        quotas=QuotaGate(
            limiter,
            settings.rate_limits,
            metrics,
            fail_open=settings.redis.on_error == "open",
            clock=clock,
        ),
        replay=replay,
        verifier=verifier,
        authenticator=authenticator,
        forwarder=forwarder,
        owners=owners,
        access=AccessControl(owners, authenticator),
        routes=RouteTable(routes),
        trusted_proxies=tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in settings.listen.trusted_proxies
        ),
        service_key_hashes={s.sha256.lower(): s.name for s in settings.service_keys},
    )


def _replay_guard(settings: Settings) -> ReplayGuard:
    if settings.redis.url:
        # Fail fast: a request must not wait seconds on a dead Redis.
        client = redis_asyncio.from_url(
            settings.redis.url,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
        )
        return RedisReplayGuard(client, f"{settings.redis.prefix}:", owns_client=True)
    return MemoryReplayGuard(maxsize=settings.signatures.replay_cache_size)


def build_app(settings: Settings, clock: Callable[[], float] = time.time) -> web.Application:
    gateway = build_gateway(settings, clock)
    # The body limit is enforced by our own readers (413 with our error body);
    # aiohttp's own check is set above it so it never answers first.
    app = web.Application(
        middlewares=[gateway_middleware],
        client_max_size=settings.limits.max_body_bytes + 1024,
        handler_args={"max_field_size": 16384, "max_line_size": 16384},
    )
    app[GATEWAY] = gateway
    app.cleanup_ctx.append(_lifecycle)
    app.cleanup_ctx.append(health_context)
    app.on_response_prepare.append(_add_response_headers)
    app.router.add_get("/openapi.json", serve_openapi, allow_head=False)
    add_key_routes(app)
    add_portal_routes(app)
    add_order_scheme_routes(app)
    app.router.add_route("*", "/{tail:.*}", handle_forwarded)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    gw = app[GATEWAY]
    await gw.store.open()
    await gw.forwarder.start()
    await gw.keys.start(gw.settings.usage.flush_interval_s)
    yield
    # Usage counted so far is flushed by keys.close(): nothing lost on SIGTERM.
    await gw.keys.close()
    await gw.forwarder.close()
    await gw.limiter.close()
    await gw.replay.close()
    await gw.store.close()


@web.middleware
async def gateway_middleware(
    request: web.Request, handler: Callable[[web.Request], object]
) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    started = time.perf_counter()
    request[REQUEST_ID] = request_id_for(request, gw.request_ids)
    request[CLIENT_IP] = client_ip(request, gw.trusted_proxies)
    try:
        response = await handler(request)  # type: ignore[misc]
    except ApiError as exc:
        response = await error_response(request, gw, exc)
    except web.HTTPException as exc:
        response = await error_response(request, gw, _from_http_exception(exc))
    except Exception:
        log.exception("unhandled error in request %s", request[REQUEST_ID])
        response = await error_response(
            request, gw, ApiError(ErrorCode.INTERNAL_ERROR, "Internal error")
        )
    method = request.method if request.method in KNOWN_METHODS else "OTHER"
    route = request.get(ROUTE_LABEL) or _route_label(request)
    elapsed = time.perf_counter() - started
    gw.metrics.observe_request(
        route, method, response.status, request.get(AUTH_LABEL, "none"), elapsed
    )
    if access_enabled(request.app):
        write_access_line(request, method, route, response.status, elapsed)
    return response


def _route_label(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    if resource is None or resource.canonical == "/{tail}":
        return "unmatched"
    return resource.canonical


def _from_http_exception(exc: web.HTTPException) -> ApiError:
    if exc.status == 413:
        return ApiError(ErrorCode.PAYLOAD_TOO_LARGE, "Request body too large")
    if exc.status == 405:
        return ApiError(ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed")
    if exc.status == 404:
        return ApiError(ErrorCode.NOT_FOUND, "Not found")
    if exc.status < 500:
        return ApiError(ErrorCode.BAD_REQUEST, "Invalid request", status=exc.status)
    return ApiError(ErrorCode.INTERNAL_ERROR, "Internal error")


async def error_response(request: web.Request, gw: Gateway, exc: ApiError) -> web.Response:
    """The §4 body; an error that has no quota yet counts against the client IP.

    A 429 already carries the headers of the scope that refused it (and was
    counted nowhere), so it is neither counted again nor relabelled as IP.
    """
    if QUOTA not in request and exc.code != ErrorCode.RATE_LIMITED:
        try:
            quota = await gw.quotas.peek_ip(request[CLIENT_IP])
        except ApiError as limiter_down:
            exc = limiter_down
        else:
            request[QUOTA] = quota
            if not quota.allowed and exc.status != 429:
                gw.metrics.count_rate_limited("ip")
                exc = rate_limited(quota, gw.quotas.clock())
    request[ERROR_CODE] = exc.code.value
    body = exc.body()
    if request.path.startswith(EVM_DIALECT_PREFIX):
        body = {"success": False, **body}
    if exc.status >= 500:
        # Dependency outages are counted in metrics; a log line per request
        # during one would only add load, so they stay at debug level.
        log.debug("request %s answered %s %s", request[REQUEST_ID], exc.status, exc.code.value)
    return web.json_response(body, status=exc.status, headers=exc.headers)


async def _add_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    gw = request.app.get(GATEWAY)
    # No aiohttp or Python version for a scanner to match against advisories.
    response.headers["Server"] = "walletgate"
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers["X-Request-ID"] = request_id
    quota = request.get(QUOTA)
    if quota is not None and gw is not None:
        response.headers.update(quota.headers(gw.quotas.clock()))


async def serve_openapi(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    request[QUOTA] = await gw.quotas.for_ip(request[CLIENT_IP])
    return web.json_response(openapi_document(gw.routes, scheme_documents(gw)))
