"""The main listener's routes: match, admit, end. One door for every route of the table.

Proxy mode serves every route: key management here, the order routes
forwarded. Auth mode serves key management and the routes whose credential
is the body (an ingress cannot show walletgate a body); the ingress asks
`/_walletgate/auth` about the rest (`gateway.http.decision`).
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import ApiError, ErrorCode
from gateway.http.admit import admit
from gateway.http.context import GATEWAY, STATE
from gateway.http.key_routes import KEY_ENDINGS, check_key_request
from gateway.http.pipeline import forward_admitted
from gateway.http.target import request_target


async def handle_request(request: web.Request) -> web.StreamResponse:
    """Proxy mode: every route of the table."""
    target = request_target(request.raw_path)
    matched = request.app[GATEWAY].routes.match(request.method, target.path)
    route = matched.route
    if route.forwarded:
        return await forward_admitted(request, await admit(request, matched), target.origin_form)
    request[STATE].route = route.template  # labels a refusal of its shape too
    check_key_request(request, route.ending)
    return await KEY_ENDINGS[route.ending](request, await admit(request, matched))


async def handle_auth_mode(request: web.Request) -> web.StreamResponse:
    """Auth mode: key management, and the routes authenticated by their body."""
    target = request_target(request.raw_path)
    matched = request.app[GATEWAY].routes.match(request.method, target.path)
    route = matched.route
    if not route.forwarded:
        request[STATE].route = route.template
        check_key_request(request, route.ending)
        return await KEY_ENDINGS[route.ending](request, await admit(request, matched))
    if not route.order_signature:
        raise ApiError(
            ErrorCode.NOT_FOUND, "Not found", {"reason": "auth mode: the ingress serves this route"}
        )
    return await forward_admitted(request, await admit(request, matched), target.origin_form)
