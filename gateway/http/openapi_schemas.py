"""The body schemas of /openapi.json (components.schemas).

Each schema is the shape a handler (or the bundled backend, for forwarded
order routes) really answers; tests/e2e/test_openapi_answers.py validates
real answers against them. Nullable fields use OpenAPI 3.1's type arrays,
which both client generators the project checks (openapi-typescript,
openapi-python-client) turn into `T | null` / `T | None`.
"""

from __future__ import annotations

from typing import Any, Final


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, **extra}


STRING: Final = {"type": "string"}
NULLABLE_STRING: Final = {"type": ["string", "null"]}
TIMESTAMP: Final = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: Final = {"type": ["string", "null"], "format": "date-time"}
COUNT: Final = {"type": "integer", "minimum": 0}
PERMISSIONS: Final = {
    "type": "array",
    "items": {"type": "string", "enum": ["create", "execute", "cancel"]},
}

_ERROR_PROPERTIES: Final = {
    "error": {"type": "string", "description": "A human-readable message"},
    "code": {"type": "string", "description": "A stable code (docs/api.md, Errors)"},
    "details": {"type": "object", "additionalProperties": True},
    "timestamp": TIMESTAMP,
}

_KEY_COMMON: Final = {
    "keyId": STRING,
    "name": STRING,
    "permissions": PERMISSIONS,
    "rateLimit": {"type": "integer", "minimum": 1},
    "createdAt": TIMESTAMP,
    "walletAddress": STRING,
    "keyHint": STRING,
    "expiresAt": NULLABLE_TIMESTAMP,
    "ipAllowlist": {"type": "array", "items": STRING},
}
_CREATED_REQUIRED: Final = ["apiKey", "keyId", "name", "permissions", "rateLimit", "createdAt"]

# The bundled backend's order record; an exchange of its own may add fields.
_ORDER_FIELDS: Final = {
    "owner": STRING,
    "inputToken": STRING,
    "outputToken": STRING,
    "amountIn": {"type": "string", "description": "A decimal integer, as a string"},
    "targetPrice": STRING,
    "direction": {"type": "string", "enum": ["gt", "lt"]},
    "conditionToken": STRING,
    "recipient": STRING,
    "uuid": STRING,
    "validFrom": NULLABLE_STRING,
    "validTo": NULLABLE_STRING,
    "publicKey": NULLABLE_STRING,
}
_ORDER_STATE: Final = {
    "signature": STRING,
    "status": {"type": "string", "enum": ["open", "filled", "cancelled"]},
    "createdAt": TIMESTAMP,
    "txid": NULLABLE_STRING,
    "executedAt": NULLABLE_STRING,
    "executedBy": NULLABLE_STRING,
    "cancelledAt": NULLABLE_STRING,
    "cancelledBy": NULLABLE_STRING,
}
_SUCCESS: Final = {"type": "string", "const": "success"}
_ROUTE_REF: Final = _obj(["method", "path"], {"method": STRING, "path": STRING})

SCHEMAS: Final[dict[str, Any]] = {
    "Error": _obj(
        ["error", "code", "details", "timestamp"],
        _ERROR_PROPERTIES,
        description="Every error of the wallet-signed dialect and of the order routes",
    ),
    "EvmError": _obj(
        ["success", "error", "code", "details", "timestamp"],
        {"success": {"type": "boolean", "const": False}, **_ERROR_PROPERTIES},
        description="Every error of the service-key dialect (/api-key/*)",
    ),
    "SignedBody": _obj(
        ["message", "signature", "walletAddress"],
        {
            "message": {"type": "string", "description": "The signed JSON message, verbatim"},
            "signature": {"type": "string", "description": "65 bytes of hex, optional 0x"},
            "walletAddress": STRING,
            "publicKey": STRING,
        },
    ),
    "CreatedApiKey": _obj(
        _CREATED_REQUIRED,
        {"apiKey": {"type": "string", "description": "Shown once"}, **_KEY_COMMON},
    ),
    "RotatedApiKey": _obj(
        [*_CREATED_REQUIRED, "replacesKeyId", "graceSeconds"],
        {
            "apiKey": STRING,
            **_KEY_COMMON,
            "replacesKeyId": STRING,
            "graceSeconds": {"type": "integer", "minimum": 0, "maximum": 86400},
        },
    ),
    "HourlyUsage": _obj(
        ["hour", "success", "clientError", "rateLimited", "serverError"],
        {
            "hour": TIMESTAMP,
            "success": COUNT,
            "clientError": COUNT,
            "rateLimited": COUNT,
            "serverError": COUNT,
        },
    ),
    "UsageStats": _obj(
        [
            "totalRequests",
            "successfulRequests",
            "failedRequests",
            "creationCount",
            "executionCount",
            "cancellationCount",
            "rateLimitedRequests",
            "hourly",
        ],
        {
            "totalRequests": {**COUNT, "description": "Every request made with the key"},
            "successfulRequests": COUNT,
            "failedRequests": {**COUNT, "description": "Status 400 or more, 429s included"},
            "creationCount": COUNT,
            "executionCount": COUNT,
            "cancellationCount": COUNT,
            "rateLimitedRequests": {**COUNT, "description": "Refused by a rate limit (429)"},
            "hourly": {"type": "array", "items": ref("HourlyUsage")},
        },
    ),
    "ClientIp": _obj(
        ["ip", "firstSeen", "lastSeen", "requests"],
        {
            "ip": STRING,
            "firstSeen": TIMESTAMP,
            "lastSeen": TIMESTAMP,
            "requests": COUNT,
        },
        description="An address the key was used from (the run since firstSeen)",
    ),
    "ApiKey": _obj(
        ["id", "keyId", "name", "status", "permissions", "rateLimit", "createdAt", "usageStats"],
        {
            "id": STRING,
            **_KEY_COMMON,
            "status": {"type": "string", "enum": ["active", "suspended", "revoked"]},
            "lastUsedAt": NULLABLE_TIMESTAMP,
            "revokesAt": NULLABLE_TIMESTAMP,
            "usageStats": ref("UsageStats"),
            "clientIps": {
                "type": "array",
                "items": ref("ClientIp"),
                "description": "The most recent addresses the key was used from (20)",
            },
        },
        description="A key as its wallet sees it: never the key itself nor its hash",
    ),
    "ApiKeyList": _obj(["apiKeys"], {"apiKeys": {"type": "array", "items": ref("ApiKey")}}),
    "RevokedApiKey": _obj(["message"], {"message": STRING}),
    "KeyEvent": _obj(
        ["event", "at", "keyId", "wallet", "actor", "details"],
        {
            "event": STRING,
            "at": TIMESTAMP,
            "keyId": STRING,
            "wallet": STRING,
            "actor": STRING,
            "clientIp": NULLABLE_STRING,
            "details": {"type": "object", "additionalProperties": True},
        },
    ),
    "KeyEventPage": _obj(
        ["events", "nextCursor"],
        {"events": {"type": "array", "items": ref("KeyEvent")}, "nextCursor": NULLABLE_STRING},
    ),
    "GeneratedKey": _obj(
        ["success", "api_key", "wallet_address", "created_at", "message"],
        {
            "success": {"type": "boolean", "const": True},
            "api_key": {"type": "string", "description": "Shown once"},
            "wallet_address": STRING,
            "created_at": TIMESTAMP,
            "message": STRING,
        },
    ),
    "RevokedWalletKey": _obj(
        ["success", "wallet_address", "revoked_at", "message"],
        {
            "success": {"type": "boolean", "const": True},
            "wallet_address": STRING,
            "revoked_at": TIMESTAMP,
            "message": STRING,
        },
    ),
    "SigningInfo": _obj(
        ["domain", "chains", "stacksNetwork", "evmChainId", "maxAgeS"],
        {
            "domain": {
                "type": ["string", "null"],
                "description": 'Non-null: every signed message must carry "domain" with it',
            },
            "chains": {"type": "array", "items": {"type": "string", "enum": ["stacks", "evm"]}},
            "stacksNetwork": {"type": "string", "enum": ["mainnet", "testnet", "any"]},
            "evmChainId": {"type": ["integer", "null"]},
            "maxAgeS": {"type": "number", "exclusiveMinimum": 0},
        },
    ),
    "OrderSchemeSummary": _obj(
        ["name", "kind", "routes"],
        {
            "name": STRING,
            "kind": {"type": "string", "enum": ["canonical_json", "sip018", "eip712"]},
            "routes": {"type": "array", "items": _ROUTE_REF},
        },
    ),
    "OrderSchemeList": _obj(
        ["schemes"], {"schemes": {"type": "array", "items": ref("OrderSchemeSummary")}}
    ),
    "OrderScheme": _obj(
        ["name", "kind", "unsigned", "routes"],
        {
            "name": STRING,
            "kind": {"type": "string", "enum": ["canonical_json", "sip018", "eip712"]},
            "unsigned": {"type": "array", "items": STRING},
            "routes": {"type": "array", "items": _ROUTE_REF},
            "domain": {"type": "object", "additionalProperties": True},
            "network": STRING,
            "message": {
                "type": "array",
                "description": "SIP-018: the tuple template, in byte order",
                "items": _obj(["key", "type"], {"key": STRING, "type": STRING, "field": STRING}),
            },
            "onchain": {"type": "boolean"},
            "ownerBoundBySignature": {"type": "boolean"},
            "primaryType": STRING,
            "types": {
                "type": "object",
                "description": "EIP-712: every struct, EIP712Domain first",
                "additionalProperties": {
                    "type": "array",
                    "items": _obj(["name", "type"], {"name": STRING, "type": STRING}),
                },
            },
            "fields": {"type": "object", "additionalProperties": STRING},
            "constants": {"type": "object", "additionalProperties": True},
        },
        description="Everything a client needs to sign an order under this scheme",
    ),
    "NewOrder": _obj(
        ["owner", "uuid", "signature"],
        {**_ORDER_FIELDS, "signature": STRING},
        additionalProperties=True,
        description="The order and its owner's signature under the route's scheme",
    ),
    "Order": _obj(["owner", "uuid", "status", "createdAt"], {**_ORDER_FIELDS, **_ORDER_STATE}),
    "OrderResult": _obj(["status", "data"], {"status": _SUCCESS, "data": ref("Order")}),
    "OrderList": _obj(
        ["status", "data", "nextCursor"],
        {
            "status": _SUCCESS,
            "data": {"type": "array", "items": ref("Order")},
            "nextCursor": NULLABLE_STRING,
        },
    ),
    "OrderExecuted": _obj(["status", "txid"], {"status": _SUCCESS, "txid": STRING}),
    "OrderCancelled": _obj(["status"], {"status": _SUCCESS}),
    "OpenApiDocument": {"type": "object", "required": ["openapi", "paths"]},
}
