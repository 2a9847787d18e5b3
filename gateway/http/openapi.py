"""The OpenAPI 3.1 description served at /openapi.json.

Built from the live route table, so an operator's own `[[routes]]` show up
as they are configured. Every operation has a stable camelCase
`operationId` (client generators name their functions after it), a schema
for each answer it gives, and the rate-limit headers every answer carries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from gateway.auth.policy import Route, RouteMatch, RouteTable
from gateway.auth.routes import page_route
from gateway.http.admit import admit
from gateway.http.context import GATEWAY
from gateway.http.openapi_headers import API_KEY, HEADERS, SECURITY_SCHEMES, SIGNED_HEADERS
from gateway.http.openapi_operations import (
    API_KEY_HEADER,
    ORDER_QUERY,
    PARAM,
    answer,
    errors,
    key_management,
    path_params,
    public_routes,
    service_dialect,
    signed_header_params,
)
from gateway.http.openapi_schemas import SCHEMAS, ref
from gateway.http.order_schemes import scheme_documents

VERSION = "0.1.0"

# The default order routes (docs/api.md, "Orders"): their names and the bundled
# backend's answers. Routes an operator adds get a name derived from the path.
_ORDER_OPERATIONS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("POST", "/api/v1/orders/new"): ("createOrder", "201", "OrderResult"),
    ("POST", "/api/v1/orders/{uuid}/execute"): ("executeOrder", "200", "OrderExecuted"),
    ("PATCH", "/api/v1/orders/{uuid}/cancel"): ("cancelOrder", "200", "OrderCancelled"),
    ("GET", "/api/v1/orders/{uuid}"): ("getOrder", "200", "OrderResult"),
    ("GET", "/api/v1/orders"): ("listOrders", "200", "OrderList"),
}


def derived_operation_id(method: str, template: str) -> str:
    """`POST /api/v1/trades/{id}/close` -> `postApiV1TradesByIdClose`: stable per route."""
    words = [method.lower()]
    for segment in template.strip("/").split("/"):
        found = PARAM.fullmatch(segment)
        text = f"by {found.group(1)}" if found else segment
        words += [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _forwarded_operation(route: Route) -> dict[str, Any]:
    known = _ORDER_OPERATIONS.get((route.method, route.template))
    operation_id, status, schema = known or (
        derived_operation_id(route.method, route.template),
        "200",
        "",
    )
    parameters = [*path_params(route.template), API_KEY_HEADER]
    if route.action:
        parameters += signed_header_params(False)
    if route.template == "/api/v1/orders":
        parameters += ORDER_QUERY
    access = "public" if route.public else "authenticated"
    # An operator's own route answers whatever its upstream does: any JSON value.
    body = ref(schema) if schema else {"description": "The upstream's answer, as it sent it"}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": f"Forwarded to the upstream ({access})",
        "tags": ["orders"],
        "parameters": parameters,
        "responses": {status: answer(status, "The upstream's answer", body)}
        | errors("400", "401", "403", "404", "409", "413", "429", "502", "503", "504"),
    }
    if route.public:
        operation["security"] = [{}, API_KEY]
    elif route.order_signature:
        # The order's own signature in the body authenticates it; a key may be added.
        operation["security"] = [{}, API_KEY]
    else:
        operation["security"] = [API_KEY, SIGNED_HEADERS] if route.action else [API_KEY]
    if route.permission:
        operation["x-walletgate-permission"] = route.permission.value
    if route.order_signature:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref("NewOrder")}},
        }
        operation["x-walletgate-order-scheme"] = route.order_scheme
    return operation


def _forwarded(routes: RouteTable) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes.routes:
        paths.setdefault(route.template, {})[route.method.lower()] = _forwarded_operation(route)
    return paths


def openapi_document(
    routes: RouteTable, order_schemes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """`order_schemes`: name -> published scheme document (x-walletgate-order-schemes)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "walletgate",
            "version": VERSION,
            "description": "Wallet-signed API keys, the service-key dialect and the "
            "guarded order routes of the exchange behind this gateway (docs/api.md).",
        },
        # Relative to where this document was fetched: the gateway that served it.
        "servers": [{"url": "/", "description": "This gateway"}],
        "tags": [
            {"name": "keys", "description": "Wallet-signed API keys"},
            {"name": "service-key dialect", "description": "/api-key/generate and /revoke"},
            {"name": "orders", "description": "Forwarded to the exchange API"},
            {"name": "public", "description": "Public, charged to the client address"},
        ],
        "x-walletgate-order-schemes": dict(order_schemes or {}),
        "paths": key_management() | service_dialect() | public_routes() | _forwarded(routes),
        "components": {
            "schemas": SCHEMAS,
            "headers": HEADERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


_DOCUMENT = RouteMatch(page_route("/openapi.json"), MappingProxyType({}))


async def serve_openapi(request: web.Request) -> web.Response:
    """GET /openapi.json: public, counted against the client IP."""
    gw = request.app[GATEWAY]
    await admit(gw, request, _DOCUMENT, with_body=False)
    return web.json_response(openapi_document(gw.routes, scheme_documents(gw)))
