"""What every request passes: request id, client IP, error body, metrics, headers.

`framed` is the one place that renders an error: whatever a
handler raises (an `ApiError`, a lower layer's own exception, aiohttp's
`HTTPException`, or a bug) becomes the JSON error body through
`gateway.http.errors.api_error`. The rate-limit headers and X-Request-ID are
added here by `add_response_headers` to every answer, errors and 429s
included; a relayed stream, whose head is sent before the handler returns,
gets them from the pipeline just before it starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import hdrs, web
from multidict import istr

from gateway.addresses import client_buckets
from gateway.errors import ApiError, ErrorCode
from gateway.http.access_log import ACCESS_LINES, access_enabled
from gateway.http.context import (
    GATEWAY,
    STATE,
    Gateway,
    RequestState,
    client_ip,
    request_id_for,
)
from gateway.http.errors import api_error, in_service_dialect
from gateway.http.listener import SERVER
from gateway.ratelimit import LimiterError, RateLimited
from gateway.upstream.forwarder import relayed_status
from gateway.wallets.replay import REPLAY_CLIENT

log = logging.getLogger("walletgate")

KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Answers under this prefix (the service-key dialect) carry `"success": false`.
EVM_DIALECT_PREFIX = "/api-key/"

X_REQUEST_ID: Final = istr("X-Request-ID")
# The canonical path of the main listener's catch-all: its answers are "unmatched".
CATCH_ALL: Final = "/{tail}"
# Exceptions that are answers, even when the answer is a 500.
_EXPECTED = (ApiError, web.HTTPException)
# Counted when the client hung up before its answer (nginx's convention); never sent.
CLIENT_CLOSED_STATUS = 499

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def framed(handler: Handler) -> Handler:
    """`handler` inside the frame every answer of the main listener passes.

    Each route of the main listener is registered framed (`app.py`, and the
    `add_*_routes` of the modules that serve one), and a catch-all takes
    every target no route names (`gateway.http.door.EveryTarget`), so no
    answer escapes the frame. It does what an aiohttp middleware would,
    without the machinery aiohttp adds around one on every request (a second
    wrapper recording the current app, and a partial): about 3% of a
    forwarded request's instructions.
    """

    async def frame(request: web.Request) -> web.StreamResponse:
        gw = request.app[GATEWAY]
        started = time.perf_counter()
        state = RequestState(
            request_id_for(request, gw.request_ids),
            client_ip(request, gw.trusted_proxies, gw.settings.listen.forwarded_header),
        )
        request[STATE] = state
        # Replay entries this request makes count towards its client's share
        # (its IPv4 address or IPv6 /48, the widest prefix one client holds).
        REPLAY_CLIENT.set(client_buckets(state.client_ip)[-1][0])
        try:
            response = await handler(request)
        except Exception as exc:
            if isinstance(exc, ConnectionResetError) and _client_gone(request):
                # The client hung up mid-request (a body cut short, or stalled and
                # closed by the listener): nobody to answer, and no bug to report.
                log.debug("request %s: the client closed its connection", state.request_id)
                response = web.Response(status=CLIENT_CLOSED_STATUS)
            else:
                response = await _answer_error(request, gw, state, exc)
        if not response.prepared:  # a relayed stream got its headers before it started
            add_response_headers(state, response, gw.quotas.clock)
        if state.on_answer is not None:
            state.on_answer(response)
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        route = state.route or _route_label(request)
        elapsed = time.perf_counter() - started
        status = relayed_status(response)  # a relayed body that broke off counts as 502/504
        gw.metrics.observe_request(route, method, status, state.auth, elapsed)
        if access_enabled(gw.settings):
            json_format = gw.settings.log.format == "json"
            request.app[ACCESS_LINES].write(state, method, route, status, elapsed, json_format)
        return response

    return frame


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _answer_error(
    request: web.Request, gw: Gateway, state: RequestState, exc: Exception
) -> web.Response:
    error = api_error(exc)
    if error.code == ErrorCode.INTERNAL_ERROR and not isinstance(exc, _EXPECTED):
        # A bug, not a refusal: the traceback is what finds it.
        log.exception("unhandled error in request %s", state.request_id)
    return await error_response(request, gw, error)


def _route_label(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    if resource is None or resource.canonical == CATCH_ALL:
        return "unmatched"
    return resource.canonical


async def error_response(request: web.Request, gw: Gateway, exc: ApiError) -> web.Response:
    """The error body; an error that has no quota yet counts against the client IP.

    A 429 already carries the headers of the scope that refused it (and was
    counted nowhere), so it is neither counted again nor relabelled as IP.
    """
    state = request[STATE]
    if exc.code == ErrorCode.RATE_LIMITED:
        # The refusing scope's headers travel on the error; a quota admitted
        # earlier in this request (its client IP) must not overwrite them.
        state.quota = None
    elif state.quota is None:
        try:
            quota = await gw.quotas.peek_ip(state.client_ip)
        except LimiterError as limiter_down:
            exc = api_error(limiter_down)
        else:
            state.quota = quota
            if not quota.allowed and exc.status != 429:
                gw.metrics.count_rate_limited("ip")
                exc = api_error(RateLimited(quota, gw.quotas.clock()))
    service_dialect = request.path.startswith(EVM_DIALECT_PREFIX)
    if service_dialect:
        exc = in_service_dialect(exc)
    state.error_code = exc.code.value
    body = exc.body()
    if service_dialect:
        body = _evm_dialect_body(body, exc.status)
    if exc.status >= 500:
        # Dependency outages are counted in metrics; a log line per request
        # during one would only add load, so they stay at debug level.
        log.debug("request %s answered %s %s", state.request_id, exc.status, exc.code.value)
    return web.json_response(body, status=exc.status, headers=exc.headers)


def _evm_dialect_body(body: dict[str, Any], status: int) -> dict[str, Any]:
    """Seed 001's shape: `success: false`, and every server-side failure under its
    one code for them, INTERNAL_ERROR (the precise cause stays in `details`)."""
    if status >= 500 and body["code"] != ErrorCode.INTERNAL_ERROR:
        details = {**body["details"], "cause": body["code"]}
        body = {**body, "code": ErrorCode.INTERNAL_ERROR.value, "details": details}
    return {"success": False, **body}


def add_response_headers(
    state: RequestState, response: web.StreamResponse, clock: Callable[[], float]
) -> None:
    """What every answer carries: Server, X-Request-ID and the rate-limit headers."""
    # No aiohttp or Python version for a scanner to match against advisories.
    own: list[tuple[str, str]] = [(hdrs.SERVER, SERVER), (X_REQUEST_ID, state.request_id)]
    quota = state.quota
    if quota is not None:
        own += quota.header_items(clock())
    # One call, replacing any of these an answer set already.
    response.headers.update(own)
