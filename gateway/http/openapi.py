"""The OpenAPI 3.1 description served at /openapi.json.

Built from the live route table, so an operator's own `[[routes]]` show up
as they are configured. Every operation has a stable camelCase
`operationId` (client generators name their functions after it), a schema
for each answer it gives, and the rate-limit headers every answer carries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.auth.policy import Route, RouteTable
from gateway.http.context import GATEWAY, STATE
from gateway.http.openapi_schemas import (
    API_KEY,
    HEADERS,
    RATE_LIMIT_HEADERS,
    SCHEMAS,
    SECURITY_SCHEMES,
    SERVICE_KEY,
    SIGNED_HEADERS,
    ref,
)
from gateway.http.order_schemes import scheme_documents

VERSION = "0.1.0"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

_STATUS_TEXT = {
    "400": "Bad request",
    "401": "Not authenticated",
    "403": "Not allowed",
    "404": "Not found",
    "409": "Conflict",
    "413": "Body too large",
    "429": "Rate limit exceeded (Retry-After says when to try again)",
    "502": "Upstream unavailable",
    "503": "Dependency unavailable",
    "504": "Upstream timeout",
}

# The default order routes (product.md §3.2): their names and the bundled
# backend's answers. Routes an operator adds get a name derived from the path.
_ORDER_OPERATIONS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("POST", "/api/v1/orders/new"): ("createOrder", "201", "OrderResult"),
    ("POST", "/api/v1/orders/{uuid}/execute"): ("executeOrder", "200", "OrderExecuted"),
    ("PATCH", "/api/v1/orders/{uuid}/cancel"): ("cancelOrder", "200", "OrderCancelled"),
    ("GET", "/api/v1/orders/{uuid}"): ("getOrder", "200", "OrderResult"),
    ("GET", "/api/v1/orders"): ("listOrders", "200", "OrderList"),
}


def _headers(status: str) -> dict[str, Any]:
    names = (*RATE_LIMIT_HEADERS, "Retry-After") if status == "429" else RATE_LIMIT_HEADERS
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _json(status: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _headers(status),
        "content": {"application/json": {"schema": schema}},
    }


def _errors(*statuses: str, schema: str = "Error") -> dict[str, Any]:
    return {status: _json(status, _STATUS_TEXT[status], ref(schema)) for status in statuses}


def _ok(status: str, description: str, schema: str) -> dict[str, Any]:
    return {status: _json(status, description, ref(schema))}


def _header_param(name: str, required: bool, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def _signed_headers(required: bool) -> list[dict[str, Any]]:
    return [
        _header_param("X-Message", required, "The signed JSON message"),
        _header_param("X-Signature", required, "Its signature, 65 bytes of hex"),
        _header_param("X-Wallet-Address", required, "The wallet that signed"),
        _header_param("X-Public-Key", False, "Stacks: the signer's public key, optional"),
    ]


def _path_params(template: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(template)
    ]


EVENT_PAGE = (
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
)
ORDER_QUERY = (
    {"name": "owner", "in": "query", "schema": {"type": "string"}},
    {"name": "status", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
)
API_KEY_HEADER = _header_param("X-API-Key", False, "An API key (or a service key on /api-key/*)")
WALLET_HEADER = _header_param("X-Wallet-Address", False, "With a service key: the wallet")
SIGNED_BODY = {"required": True, "content": {"application/json": {"schema": ref("SignedBody")}}}
_COMMON = ("400", "401", "429", "503")


def _signed(operation_id: str, summary: str, **rest: Any) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["keys"],
        "security": [SIGNED_HEADERS],
        **rest,
    }


def _key_management() -> dict[str, Any]:
    key_id = _path_params("{keyId}")
    return {
        "/api/v1/api-keys": {
            "post": _signed(
                "createApiKey",
                "Create an API key (signed create_api_key, body form)",
                requestBody=SIGNED_BODY,
                responses=_ok("201", "The new key, shown once", "CreatedApiKey")
                | _errors(*_COMMON, "409", "413"),
            ),
            "get": _signed(
                "listApiKeys",
                "List the wallet's keys (signed list_api_keys, header form)",
                parameters=_signed_headers(True),
                responses=_ok("200", "The wallet's keys", "ApiKeyList") | _errors(*_COMMON),
            ),
        },
        "/api/v1/api-keys/{keyId}": {
            "get": _signed(
                "getApiKey",
                "One key (signed get_api_key, header form)",
                parameters=key_id + _signed_headers(True),
                responses=_ok("200", "The key", "ApiKey") | _errors(*_COMMON, "404"),
            ),
            "delete": _signed(
                "revokeApiKey",
                "Revoke a key (signed delete_api_key)",
                parameters=key_id,
                requestBody=SIGNED_BODY,
                responses=_ok("200", "Revoked", "RevokedApiKey") | _errors(*_COMMON, "404"),
            ),
        },
        "/api/v1/api-keys/{keyId}/rotate": {
            "post": _signed(
                "rotateApiKey",
                "Rotate a key (signed rotate_api_key, optional graceSeconds)",
                parameters=key_id,
                requestBody=SIGNED_BODY,
                responses=_ok("201", "The new key, shown once", "RotatedApiKey")
                | _errors(*_COMMON, "404", "409", "413"),
            )
        },
        "/api/v1/api-keys/{keyId}/events": {
            "get": _signed(
                "listApiKeyEvents",
                "The key's audit trail, newest first (signed list_api_key_events)",
                parameters=[*key_id, *EVENT_PAGE, *_signed_headers(True)],
                responses=_ok("200", "A page of events", "KeyEventPage") | _errors(*_COMMON, "404"),
            )
        },
    }


def _service_dialect() -> dict[str, Any]:
    def operation(operation_id: str, summary: str, ok: str, *errors: str) -> dict[str, Any]:
        return {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["service-key dialect"],
            "security": [SERVICE_KEY, API_KEY],
            "parameters": [API_KEY_HEADER, WALLET_HEADER],
            "responses": _ok("200", "Done", ok) | _errors(*_COMMON, *errors, schema="EvmError"),
        }

    return {
        "/api-key/generate": {
            "post": operation(
                "generateServiceKey",
                "Generate the wallet's key (service key + X-Wallet-Address, or its own key)",
                "GeneratedKey",
                "403",
                "409",
            )
        },
        "/api-key/revoke": {
            "post": operation(
                "revokeServiceKey",
                "Revoke the wallet's key (the key itself, or service key + X-Wallet-Address)",
                "RevokedWalletKey",
                "403",
                "404",
            )
        },
    }


def _public(operation_id: str, summary: str, schema: str, *errors: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["public"],
        "security": [{}],
        "responses": _ok("200", summary, schema) | _errors("429", *errors),
    }


def _public_routes() -> dict[str, Any]:
    one_scheme = _public(
        "getOrderScheme", "One order scheme: what to sign", "OrderScheme", "404"
    ) | {"parameters": _path_params("{name}")}
    return {
        "/openapi.json": {"get": _public("getOpenApi", "This document", "OpenApiDocument")},
        "/api/v1/signing": {
            "get": _public(
                "getSigningInfo",
                "What signed messages must carry here: domain, chains, network, max age",
                "SigningInfo",
            )
        },
        "/api/v1/order-schemes": {
            "get": _public(
                "listOrderSchemes",
                "The order-signature schemes of the order routes",
                "OrderSchemeList",
            )
        },
        "/api/v1/order-schemes/{name}": {"get": one_scheme},
    }


def derived_operation_id(method: str, template: str) -> str:
    """`POST /api/v1/trades/{id}/close` -> `postApiV1TradesByIdClose`: stable per route."""
    words = [method.lower()]
    for segment in template.strip("/").split("/"):
        found = _PARAM.fullmatch(segment)
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
    parameters = [*_path_params(route.template), API_KEY_HEADER]
    if route.action:
        parameters += _signed_headers(False)
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
        "responses": {status: _json(status, "The upstream's answer", body)}
        | _errors("400", "401", "403", "404", "409", "413", "429", "502", "503", "504"),
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
        "paths": _key_management() | _service_dialect() | _public_routes() | _forwarded(routes),
        "components": {
            "schemas": SCHEMAS,
            "headers": HEADERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


async def serve_openapi(request: web.Request) -> web.Response:
    """GET /openapi.json: public, counted against the client IP."""
    gw = request.app[GATEWAY]
    request[STATE].quota = await gw.quotas.for_ip(request[STATE].client_ip)
    return web.json_response(openapi_document(gw.routes, scheme_documents(gw)))
