"""The OpenAPI 3.1 document of the operator API (`GET /admin/v1/openapi.json`).

Paths, methods and operationIds come from the route table, so the document
cannot list a route that does not exist; the schemas below describe every
request and response body as the endings build them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Protocol

from gateway import __version__
from gateway.errors import ErrorCode
from gateway.keys.audit import EventKind
from gateway.keys.model import KeyStatus, UsageStats
from gateway.keys.store.admin_base import TopBy


class RouteInfo(Protocol):
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def operation_id(self) -> str: ...


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_NULLABLE_TIME: Final = {"type": ["string", "null"], "format": "date-time"}
_INT: Final = {"type": "integer"}
_COUNTERS: Final = tuple(UsageStats().to_json())
_COUNTS: Final = {
    "type": "object",
    "required": list(_COUNTERS),
    "properties": dict.fromkeys(_COUNTERS, _INT)
    | {"hourly": {"type": "array", "items": {"type": "object"}}},
}
_LIMITS: Final = {
    "type": "object",
    "required": ["tier", "perMinute", "perHour", "perDay"],
    "properties": {"tier": {"type": ["string", "null"]}, "perMinute": _INT, "perHour": _INT}
    | {"perDay": _INT},
}
_TIER: Final = {
    "type": ["object", "null"],
    "properties": {"name": {"type": "string"}, "perMinute": _INT, "perHour": _INT, "perDay": _INT},
}
_KEY_FIELDS: Final = {
    "keyId": {"type": "string"},
    "id": {"type": "string"},
    "walletAddress": {"type": "string"},
    "name": {"type": "string"},
    "status": {"type": "string", "enum": [s.value for s in KeyStatus]},
    "permissions": {"type": "array", "items": {"type": "string"}},
    "rateLimit": _INT,
    "createdAt": {"type": "string", "format": "date-time"},
    "lastUsedAt": _NULLABLE_TIME,
    "expiresAt": _NULLABLE_TIME,
    "revokesAt": _NULLABLE_TIME,
    "ipAllowlist": {"type": "array", "items": {"type": "string"}},
    "usageStats": _ref("UsageStats"),
    "keyHint": {"type": "string"},
    "clientIps": {"type": "array", "items": _ref("ClientIp")},
    "effectiveLimits": _ref("EffectiveLimits"),
}
_NEXT: Final = {"nextCursor": {"type": ["string", "null"]}}

SCHEMAS: Final[dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error", "code", "details", "timestamp"],
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
            "details": {"type": "object"},
            "timestamp": {"type": "string", "format": "date-time"},
        },
    },
    "UsageStats": _COUNTS,
    "ClientIp": {
        "type": "object",
        "required": ["ip", "firstSeen", "lastSeen", "requests"],
        "properties": {
            "ip": {"type": "string"},
            "firstSeen": {"type": "string", "format": "date-time"},
            "lastSeen": {"type": "string", "format": "date-time"},
            "requests": _INT,
        },
    },
    "EffectiveLimits": _LIMITS,
    "Tier": _TIER,
    "Key": {"type": "object", "required": list(_KEY_FIELDS), "properties": _KEY_FIELDS},
    "KeyPage": {
        "type": "object",
        "required": ["apiKeys", "nextCursor"],
        "properties": {"apiKeys": {"type": "array", "items": _ref("Key")}} | _NEXT,
    },
    "KeyUpdate": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string", "enum": ["suspended", "active"]},
            "rateLimit": {"type": "integer", "minimum": 1},
            "expiresAt": _NULLABLE_TIME,
            "reason": {"type": "string", "maxLength": 500},
        },
    },
    "Revocation": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": 500}},
    },
    "Event": {
        "type": "object",
        "required": ["event", "at", "keyId", "wallet", "actor", "clientIp", "details"],
        "properties": {
            "event": {"type": "string", "enum": [k.value for k in EventKind]},
            "at": {"type": "string", "format": "date-time"},
            "keyId": {"type": ["string", "null"]},
            "wallet": {"type": "string"},
            "actor": {"type": "string"},
            "clientIp": {"type": ["string", "null"]},
            "details": {"type": "object"},
        },
    },
    "EventPage": {
        "type": "object",
        "required": ["events", "nextCursor"],
        "properties": {"events": {"type": "array", "items": _ref("Event")}} | _NEXT,
    },
    "Wallet": {
        "type": "object",
        "required": ["walletAddress", "chain", "tier", "effectiveLimits", "keyCounts"],
        "properties": {
            "walletAddress": {"type": "string"},
            "chain": {"type": "string", "enum": ["stacks", "evm"]},
            "tier": _ref("Tier"),
            "effectiveLimits": _ref("EffectiveLimits"),
            "keyCounts": {"type": "object", "additionalProperties": _INT},
            "usageStats": _ref("UsageStats"),
            "lastUsedAt": _NULLABLE_TIME,
            "apiKeys": {"type": "array", "items": _ref("Key")},
        },
    },
    "TierChange": {
        "type": "object",
        "required": ["tier"],
        "additionalProperties": False,
        "properties": {
            "tier": {"type": ["string", "null"]},
            "reason": {"type": "string", "maxLength": 500},
        },
    },
    "TierResult": {
        "type": "object",
        "required": ["walletAddress", "previousTier", "tier"],
        "properties": {
            "walletAddress": {"type": "string"},
            "previousTier": {"type": ["string", "null"]},
            "tier": _ref("Tier"),
        },
    },
    "TopKeys": {
        "type": "object",
        "required": ["window", "by", "keys"],
        "properties": {
            "window": {"type": "string"},
            "by": {"type": "string", "enum": [b.value for b in TopBy]},
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "keyId": {"type": "string"},
                        "name": {"type": "string"},
                        "walletAddress": {"type": "string"},
                        "status": {"type": "string"},
                        "requests": _INT,
                        "rateLimited": _INT,
                        "failed": _INT,
                    },
                },
            },
        },
    },
}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


_PAGE: Final = (
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
    _query("cursor", {"type": "string"}),
)
_STRING: Final = {"type": "string"}
# operationId -> (query parameters, request body schema, success schema, summary)
_OPERATIONS: Final[dict[str, tuple[tuple[dict[str, Any], ...], str | None, str, str]]] = {
    "listKeys": (
        (
            _query("wallet", _STRING),
            _query("status", {"type": "string", "enum": [s.value for s in KeyStatus]}),
            *_PAGE,
        ),
        None,
        "KeyPage",
        "Keys, newest first (never a secret)",
    ),
    "getKey": ((), None, "Key", "One key as its owner sees it, with hourly usage"),
    "updateKey": ((), "KeyUpdate", "Key", "Suspend or resume a key, change its limit or expiry"),
    "revokeKey": ((_query("reason", _STRING),), "Revocation", "Key", "Revoke a key (final)"),
    "listEvents": (
        (
            _query("wallet", _STRING),
            _query("keyId", _STRING),
            _query("kind", {"type": "string", "enum": [k.value for k in EventKind]}),
            _query("since", {"type": "string", "format": "date-time"}),
            *_PAGE,
        ),
        None,
        "EventPage",
        "The audit trail, newest first",
    ),
    "getWallet": ((), None, "Wallet", "A wallet's keys, tier and usage"),
    "setWalletTier": ((), "TierChange", "TierResult", "Place a wallet in a rate-limit tier"),
    "topKeys": (
        (
            _query("window", {"type": "string", "pattern": "^[1-9][0-9]{0,3}[hd]$"}),
            _query("by", {"type": "string", "enum": [b.value for b in TopBy]}),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
        ),
        None,
        "TopKeys",
        "The busiest keys over a window of whole hours",
    ),
}
_ERRORS: Final = {
    "400": "Bad input (nothing changed)",
    "401": "Missing or wrong operator token",
    "403": "The token's scope does not allow this",
    "404": "Unknown key, or the operator API is off",
    "409": "The key is revoked",
    "429": "The token's rate limit is exceeded",
    "503": "Key store or rate limiter unavailable",
}


def _operation(route: RouteInfo) -> dict[str, Any]:
    query, body, success, summary = _OPERATIONS[route.operation_id]
    path_names = [p.strip("{}") for p in route.path.split("/") if p.startswith("{")]
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": summary,
        "description": f"Needs a `{route.scope}` token.",
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": _STRING} for name in path_names
        ]
        + list(query),
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _ref(success)}}}
        }
        | {
            status: {
                "description": text,
                "content": {"application/json": {"schema": _ref("Error")}},
            }
            for status, text in _ERRORS.items()
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "required": route.method != "DELETE",
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return operation


def operator_document(routes: Iterable[RouteInfo], server: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "walletgate operator API",
            "version": __version__,
            "description": "Key and tier management for exchange staff, on the admin "
            "listener. Tokens are configured by hash in [[admin.tokens]].",
        },
        "servers": [{"url": server}],
        "security": [{"operatorToken": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "operatorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An operator token; `read` or `write` scope.",
                }
            },
            "schemas": SCHEMAS,
        },
    }
