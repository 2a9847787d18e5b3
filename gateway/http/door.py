"""The main listener's routes: match, admit, end. One door for every route of the table.

Proxy mode serves every route: key management here, the order routes
forwarded. Auth mode serves key management and the routes whose credential
is the body (an ingress cannot show walletgate a body); the ingress asks
`/_walletgate/auth` about the rest (`gateway.http.decision`).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_urldispatcher import _InfoDict
from yarl import URL

from gateway.errors import ApiError, ErrorCode
from gateway.http.admit import admit
from gateway.http.context import GATEWAY, STATE
from gateway.http.key_routes import KEY_ENDINGS, check_key_request
from gateway.http.middleware import CATCH_ALL
from gateway.http.pipeline import forward_admitted
from gateway.http.target import request_target


class EveryTarget(web.Resource):
    """The main listener's catch-all: every request target no other route names.

    Whatever its form (`*`, a path with an encoded line break, one no route
    pattern reads), it reaches the door and the route table answers it: no
    request meets aiohttp's own plain-text 404 or 405, which would bypass the
    frame (`gateway.http.middleware.framed`) and its error body.
    """

    def _match(self, path: str) -> dict[str, str]:
        return {}

    def raw_match(self, path: str) -> bool:
        return True

    @property
    def canonical(self) -> str:
        return CATCH_ALL

    def url_for(self, **kwargs: str) -> URL:
        return URL("/")

    def add_prefix(self, prefix: str) -> None:
        raise RuntimeError("the catch-all of the main listener takes no prefix")

    def get_info(self) -> _InfoDict:
        return {}


async def handle_request(request: web.Request) -> web.StreamResponse:
    """Proxy mode: every route of the table."""
    gw = request.app[GATEWAY]
    target = request_target(request.raw_path)
    matched = gw.routes.match(request.method, target.path)
    route = matched.route
    if route.forwarded:
        admission = await admit(gw, request, matched)
        return await forward_admitted(gw, request, admission, target.origin_form)
    request[STATE].route = route.template  # labels a refusal of its shape too
    check_key_request(request, route.ending)
    return await KEY_ENDINGS[route.ending](request, await admit(gw, request, matched))


async def handle_auth_mode(request: web.Request) -> web.StreamResponse:
    """Auth mode: key management, and the routes authenticated by their body."""
    gw = request.app[GATEWAY]
    target = request_target(request.raw_path)
    matched = gw.routes.match(request.method, target.path)
    route = matched.route
    if not route.forwarded:
        request[STATE].route = route.template
        check_key_request(request, route.ending)
        return await KEY_ENDINGS[route.ending](request, await admit(gw, request, matched))
    if not route.order_signature:
        raise ApiError(
            ErrorCode.NOT_FOUND, "Not found", {"reason": "auth mode: the ingress serves this route"}
        )
    admission = await admit(gw, request, matched)
    return await forward_admitted(gw, request, admission, target.origin_form)
