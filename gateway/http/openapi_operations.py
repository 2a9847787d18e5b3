"""The operations of /openapi.json the gateway answers itself.

Key management (both dialects) and the public routes, each with its stable
camelCase `operationId`, the schema of every answer and the rate-limit
headers every answer carries. Shared helpers build the forwarded routes' too.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.http.openapi_headers import API_KEY, RATE_LIMIT_HEADERS, SERVICE_KEY, SIGNED_HEADERS
from gateway.http.openapi_schemas import ref

PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

STATUS_TEXT = {
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


def response_headers(status: str) -> dict[str, Any]:
    names = (*RATE_LIMIT_HEADERS, "Retry-After") if status == "429" else RATE_LIMIT_HEADERS
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def answer(status: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": response_headers(status),
        "content": {"application/json": {"schema": schema}},
    }


def errors(*statuses: str, schema: str = "Error") -> dict[str, Any]:
    return {status: answer(status, STATUS_TEXT[status], ref(schema)) for status in statuses}


def ok(status: str, description: str, schema: str) -> dict[str, Any]:
    return {status: answer(status, description, ref(schema))}


def header_param(name: str, required: bool, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def signed_header_params(required: bool) -> list[dict[str, Any]]:
    return [
        header_param("X-Message", required, "The signed JSON message"),
        header_param("X-Signature", required, "Its signature, 65 bytes of hex"),
        header_param("X-Wallet-Address", required, "The wallet that signed"),
        header_param("X-Public-Key", False, "Stacks: the signer's public key, optional"),
    ]


def path_params(template: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in PARAM.findall(template)
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
API_KEY_HEADER = header_param("X-API-Key", False, "An API key (or a service key on /api-key/*)")
WALLET_HEADER = header_param("X-Wallet-Address", False, "With a service key: the wallet")
SIGNED_BODY = {"required": True, "content": {"application/json": {"schema": ref("SignedBody")}}}
COMMON = ("400", "401", "429", "503")


def _signed(operation_id: str, summary: str, **rest: Any) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["keys"],
        "security": [SIGNED_HEADERS],
        **rest,
    }


def key_management() -> dict[str, Any]:
    key_id = path_params("{keyId}")
    return {
        "/api/v1/api-keys": {
            "post": _signed(
                "createApiKey",
                "Create an API key (signed create_api_key, body form)",
                requestBody=SIGNED_BODY,
                responses=ok("201", "The new key, shown once", "CreatedApiKey")
                | errors(*COMMON, "409", "413"),
            ),
            "get": _signed(
                "listApiKeys",
                "List the wallet's keys (signed list_api_keys, header form)",
                parameters=signed_header_params(True),
                responses=ok("200", "The wallet's keys", "ApiKeyList") | errors(*COMMON),
            ),
        },
        "/api/v1/api-keys/{keyId}": {
            "get": _signed(
                "getApiKey",
                "One key (signed get_api_key, header form)",
                parameters=key_id + signed_header_params(True),
                responses=ok("200", "The key", "ApiKey") | errors(*COMMON, "404"),
            ),
            "delete": _signed(
                "revokeApiKey",
                "Revoke a key (signed delete_api_key)",
                parameters=key_id,
                requestBody=SIGNED_BODY,
                responses=ok("200", "Revoked", "RevokedApiKey") | errors(*COMMON, "404"),
            ),
        },
        "/api/v1/api-keys/{keyId}/rotate": {
            "post": _signed(
                "rotateApiKey",
                "Rotate a key (signed rotate_api_key, optional graceSeconds)",
                parameters=key_id,
                requestBody=SIGNED_BODY,
                responses=ok("201", "The new key, shown once", "RotatedApiKey")
                | errors(*COMMON, "404", "409", "413"),
            )
        },
        "/api/v1/api-keys/{keyId}/events": {
            "get": _signed(
                "listApiKeyEvents",
                "The key's audit trail, newest first (signed list_api_key_events)",
                parameters=[*key_id, *EVENT_PAGE, *signed_header_params(True)],
                responses=ok("200", "A page of events", "KeyEventPage") | errors(*COMMON, "404"),
            )
        },
    }


def service_dialect() -> dict[str, Any]:
    def operation(operation_id: str, summary: str, body: str, *refusals: str) -> dict[str, Any]:
        return {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["service-key dialect"],
            "security": [SERVICE_KEY, API_KEY],
            "parameters": [API_KEY_HEADER, WALLET_HEADER],
            "responses": ok("200", "Done", body) | errors(*COMMON, *refusals, schema="EvmError"),
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


def _public(operation_id: str, summary: str, schema: str, *refusals: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["public"],
        "security": [{}],
        "responses": ok("200", summary, schema) | errors("429", *refusals),
    }


def public_routes() -> dict[str, Any]:
    one_scheme = _public(
        "getOrderScheme", "One order scheme: what to sign", "OrderScheme", "404"
    ) | {"parameters": path_params("{name}")}
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
