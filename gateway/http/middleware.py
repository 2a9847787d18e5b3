"""What every request passes: request id, client IP, error body, metrics, headers.

`gateway_middleware` is the one place that renders an error: whatever a
handler raises (an `ApiError`, a lower layer's own exception, aiohttp's
`HTTPException`, or a bug) becomes the JSON error body through
`gateway.http.errors.api_error`. The rate-limit headers and X-Request-ID are
added in `add_response_headers` (`on_response_prepare`), which every response
passes, errors, 429s and streamed answers included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.errors import ApiError, ErrorCode
from gateway.http.access_log import access_enabled, write_access_line
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
from gateway.http.errors import api_error
from gateway.ratelimit import LimiterError
from gateway.ratelimit.scopes import rate_limited
from gateway.upstream.forwarder import relayed_status

log = logging.getLogger("walletgate")

KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Answers under this prefix (the service-key dialect) carry `"success": false`.
EVM_DIALECT_PREFIX = "/api-key/"

# Exceptions that are answers, even when the answer is a 500.
_EXPECTED = (ApiError, web.HTTPException)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    started = time.perf_counter()
    request[REQUEST_ID] = request_id_for(request, gw.request_ids)
    request[CLIENT_IP] = client_ip(request, gw.trusted_proxies, gw.settings.listen.forwarded_header)
    try:
        response = await handler(request)
    except Exception as exc:
        error = api_error(exc)
        if error.code == ErrorCode.INTERNAL_ERROR and not isinstance(exc, _EXPECTED):
            # A bug, not a refusal: the traceback is what finds it.
            log.exception("unhandled error in request %s", request[REQUEST_ID])
        response = await error_response(request, gw, error)
    method = request.method if request.method in KNOWN_METHODS else "OTHER"
    route = request.get(ROUTE_LABEL) or _route_label(request)
    elapsed = time.perf_counter() - started
    status = relayed_status(response)  # a relayed body that broke off counts as 502/504
    gw.metrics.observe_request(route, method, status, request.get(AUTH_LABEL, "none"), elapsed)
    if access_enabled(request.app):
        write_access_line(request, method, route, status, elapsed)
    return response


def _route_label(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    if resource is None or resource.canonical == "/{tail}":
        return "unmatched"
    return resource.canonical


async def error_response(request: web.Request, gw: Gateway, exc: ApiError) -> web.Response:
    """The error body; an error that has no quota yet counts against the client IP.

    A 429 already carries the headers of the scope that refused it (and was
    counted nowhere), so it is neither counted again nor relabelled as IP.
    """
    if exc.code == ErrorCode.RATE_LIMITED:
        # The refusing scope's headers travel on the error; a quota admitted
        # earlier in this request (its client IP) must not overwrite them.
        request.pop(QUOTA, None)
    elif QUOTA not in request:
        try:
            quota = await gw.quotas.peek_ip(request[CLIENT_IP])
        except LimiterError as limiter_down:
            exc = api_error(limiter_down)
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


async def add_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    gw = request.app.get(GATEWAY)
    # No aiohttp or Python version for a scanner to match against advisories.
    response.headers["Server"] = "walletgate"
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers["X-Request-ID"] = request_id
    quota = request.get(QUOTA)
    if quota is not None and gw is not None:
        response.headers.update(quota.headers(gw.quotas.clock()))
