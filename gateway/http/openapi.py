"""The OpenAPI 3.1 description served at /openapi.json.

Built from the live route table, so an operator's own `[[routes]]` show up
as they are configured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from gateway.auth.policy import RouteMatch, RouteTable
from gateway.auth.routes import page_route
from gateway.http.admit import admit
from gateway.http.context import GATEWAY
from gateway.http.order_schemes import scheme_documents

ERROR = {"$ref": "#/components/schemas/Error"}
SIGNED_BODY = {"$ref": "#/components/schemas/SignedBody"}
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

_STATUS_TEXT = {
    "400": "Bad request",
    "401": "Not authenticated",
    "403": "Not allowed",
    "404": "Not found",
    "409": "Conflict",
    "413": "Body too large",
    "429": "Rate limit exceeded",
    "502": "Upstream unavailable",
    "503": "Dependency unavailable",
    "504": "Upstream timeout",
}


def _errors(*statuses: str) -> dict[str, Any]:
    return {
        status: {
            "description": _STATUS_TEXT[status],
            "content": {"application/json": {"schema": ERROR}},
        }
        for status in statuses
    }


def _ok(status: str, description: str) -> dict[str, Any]:
    return {status: {"description": description, "content": {"application/json": {}}}}


def _signed_headers(required: bool) -> list[dict[str, Any]]:
    names = ("X-Message", "X-Signature", "X-Wallet-Address", "X-Public-Key")
    return [
        {
            "name": name,
            "in": "header",
            "required": required and name != "X-Public-Key",
            "schema": {"type": "string"},
        }
        for name in names
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
API_KEY_HEADER = {"name": "X-API-Key", "in": "header", "schema": {"type": "string"}}


def _key_management() -> dict[str, Any]:
    signed = {"content": {"application/json": {"schema": SIGNED_BODY}}}
    key_id = _path_params("{keyId}")
    common = _errors("400", "401", "429")
    return {
        "/api/v1/api-keys": {
            "post": {
                "summary": "Create an API key (signed create_api_key)",
                "requestBody": signed,
                "responses": _ok("201", "The new key, shown once") | common | _errors("409"),
            },
            "get": {
                "summary": "List the wallet's keys (signed list_api_keys, header form)",
                "parameters": _signed_headers(True),
                "responses": _ok("200", "The wallet's keys") | common,
            },
        },
        "/api/v1/api-keys/{keyId}": {
            "get": {
                "summary": "One key (signed get_api_key)",
                "parameters": key_id + _signed_headers(True),
                "responses": _ok("200", "The key") | common | _errors("404"),
            },
            "delete": {
                "summary": "Revoke a key (signed delete_api_key)",
                "parameters": key_id,
                "requestBody": signed,
                "responses": _ok("200", "Revoked") | common | _errors("404"),
            },
        },
        "/api/v1/api-keys/{keyId}/rotate": {
            "post": {
                "summary": "Rotate a key (signed rotate_api_key, optional graceSeconds)",
                "parameters": key_id,
                "requestBody": signed,
                "responses": _ok("201", "The new key") | common | _errors("404", "409"),
            }
        },
        "/api/v1/api-keys/{keyId}/events": {
            "get": {
                "summary": "The key's audit trail, newest first (signed list_api_key_events)",
                "parameters": [*key_id, *EVENT_PAGE, *_signed_headers(True)],
                "responses": _ok("200", "Events and nextCursor") | common | _errors("404"),
            }
        },
        "/api-key/generate": {
            "post": {
                "summary": "Generate the wallet's key (service key + X-Wallet-Address)",
                "parameters": [
                    API_KEY_HEADER,
                    {"name": "X-Wallet-Address", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": _ok("200", "The new key") | common | _errors("403", "409"),
            }
        },
        "/api-key/revoke": {
            "post": {
                "summary": "Revoke the wallet's key (the key itself or service key)",
                "parameters": [
                    API_KEY_HEADER,
                    {"name": "X-Wallet-Address", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": _ok("200", "Revoked") | common | _errors("404"),
            }
        },
    }


def _forwarded(routes: RouteTable) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes.routes:
        parameters = [*_path_params(route.template), API_KEY_HEADER]
        if route.action:
            parameters += _signed_headers(False)
        access = "public" if route.public else "authenticated"
        operation: dict[str, Any] = {
            "summary": f"Forwarded to the upstream ({access})",
            "parameters": parameters,
            "responses": _ok("200", "The upstream's answer")
            | _errors("400", "401", "403", "404", "413", "429", "502", "504"),
        }
        if route.permission:
            operation["x-walletgate-permission"] = route.permission.value
        if route.order_signature:
            operation["requestBody"] = {
                "content": {"application/json": {"schema": {"type": "object"}}}
            }
            operation["x-walletgate-order-scheme"] = route.order_scheme
        paths.setdefault(route.template, {})[route.method.lower()] = operation
    return paths


def _order_schemes() -> dict[str, Any]:
    name = _path_params("{name}")
    return {
        "/api/v1/order-schemes": {
            "get": {
                "summary": "The order-signature schemes of the order routes (public)",
                "responses": _ok("200", "{schemes: [{name, kind, routes}]}") | _errors("429"),
            }
        },
        "/api/v1/order-schemes/{name}": {
            "get": {
                "summary": "Everything a client needs to sign an order under this scheme",
                "parameters": name,
                "responses": _ok("200", "The scheme document") | _errors("404", "429"),
            }
        },
    }


def openapi_document(
    routes: RouteTable, order_schemes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """`order_schemes`: name -> published scheme document (x-walletgate-order-schemes)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "walletgate", "version": "0.1.0"},
        "x-walletgate-order-schemes": dict(order_schemes or {}),
        "paths": _key_management() | _order_schemes() | _forwarded(routes),
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "code", "details", "timestamp"],
                    "properties": {
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                        "details": {"type": "object"},
                        "timestamp": {"type": "string"},
                        "success": {"type": "boolean"},
                    },
                },
                "SignedBody": {
                    "type": "object",
                    "required": ["message", "signature", "walletAddress"],
                    "properties": {
                        "message": {"type": "string"},
                        "signature": {"type": "string"},
                        "walletAddress": {"type": "string"},
                        "publicKey": {"type": "string"},
                    },
                },
            }
        },
    }


_DOCUMENT = RouteMatch(page_route("/openapi.json"), MappingProxyType({}))


async def serve_openapi(request: web.Request) -> web.Response:
    """GET /openapi.json: public, counted against the client IP."""
    await admit(request, _DOCUMENT, with_body=False)
    gw = request.app[GATEWAY]
    return web.json_response(openapi_document(gw.routes, scheme_documents(gw)))
