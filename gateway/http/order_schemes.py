"""Publishing the order-signature schemes: what a client must sign, byte for byte.

`GET /api/v1/order-schemes` lists the schemes of the order routes;
`GET /api/v1/order-schemes/{name}` returns one scheme's document (kind,
domain, SIP-018 tuple template or EIP-712 types and primaryType, unsigned
fields). Public routes: charged to the client IP like every public request.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from aiohttp import web

from gateway.auth.policy import RouteMatch
from gateway.auth.routes import page_route
from gateway.errors import ApiError, ErrorCode
from gateway.http.admit import admit
from gateway.http.context import GATEWAY, Gateway
from gateway.http.middleware import framed

LIST_PATH = "/api/v1/order-schemes"
ONE_PATH = "/api/v1/order-schemes/{name}"


def scheme_documents(gw: Gateway) -> dict[str, dict[str, Any]]:
    return {name: s.document() for name, s in gw.authenticator.orders.schemes.items()}


def _routes_of(gw: Gateway, name: str) -> list[dict[str, str]]:
    return [
        {"method": route.method, "path": route.template}
        for route in gw.routes.routes
        if route.order_scheme == name
    ]


_LIST = RouteMatch(page_route(LIST_PATH), MappingProxyType({}))
_ONE = RouteMatch(page_route(ONE_PATH), MappingProxyType({}))


async def _admit(request: web.Request, matched: RouteMatch) -> Gateway:
    gw = request.app[GATEWAY]
    await admit(gw, request, matched, with_body=False)
    return gw


async def list_schemes(request: web.Request) -> web.Response:
    gw = await _admit(request, _LIST)
    schemes = [
        {"name": name, "kind": s.spec.kind.value, "routes": _routes_of(gw, name)}
        for name, s in gw.authenticator.orders.schemes.items()
    ]
    return web.json_response({"schemes": schemes})


async def get_scheme(request: web.Request) -> web.Response:
    gw = await _admit(request, _ONE)
    scheme = gw.authenticator.orders.schemes.get(request.match_info["name"])
    if scheme is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Order scheme not found")
    document = scheme.document()
    document["routes"] = _routes_of(gw, scheme.spec.name)
    return web.json_response(document)


def add_order_scheme_routes(app: web.Application) -> None:
    app.router.add_get(LIST_PATH, framed(list_schemes), allow_head=False)
    app.router.add_get(ONE_PATH, framed(get_scheme), allow_head=False)
