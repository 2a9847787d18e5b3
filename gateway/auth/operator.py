"""Operator API credentials: `Authorization: Bearer <token>`, looked up by hash.

`admit_operator` is the one step every `/admin/v1/` call passes: the token is
hashed and looked up (the plaintext is never compared, nor kept), the call is
charged to the token's own quota (shared across instances through the
limiter), and the token's scope is checked against what the route needs. It
returns a small frozen record, so the route that ends the request never reads
a header or charges a limit itself.

A missing, malformed or unknown token is 401 and is charged to the client
address instead, so nobody can spend an operator's quota by naming it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from gateway.errors import ApiError, ErrorCode
from gateway.keys.audit import Origin, operator_actor
from gateway.operator_config import OperatorTokenSettings, TokenScope
from gateway.ratelimit import Quota
from gateway.ratelimit.scopes import QuotaGate

# Tokens are ASCII and short; anything longer is refused before hashing.
MAX_TOKEN_LENGTH: Final = 512
_CHALLENGE: Final = MappingProxyType({"WWW-Authenticate": 'Bearer realm="walletgate-admin"'})


@dataclass(frozen=True, slots=True)
class Operator:
    """Who is calling: the configured token's name and scope, never the token."""

    name: str
    scope: TokenScope

    @property
    def actor(self) -> str:
        return operator_actor(self.name)

    def may(self, required: TokenScope) -> bool:
        return required == TokenScope.READ or self.scope == TokenScope.WRITE


@dataclass(frozen=True, slots=True)
class OperatorAdmission:
    """An admitted operator call: who, and the token's rate-limit decision."""

    operator: Operator
    quota: Quota
    client_ip: str

    def origin(self) -> Origin:
        return Origin(self.operator.actor, self.client_ip)


class OperatorTokens:
    """The configured tokens by SHA-256 hex; empty means the operator API is off."""

    def __init__(self, tokens: Iterable[OperatorTokenSettings]) -> None:
        self._by_hash: Mapping[str, Operator] = MappingProxyType(
            {t.sha256.lower(): Operator(t.name, TokenScope(t.scope)) for t in tokens}
        )

    def __bool__(self) -> bool:
        return bool(self._by_hash)

    def lookup(self, token: str) -> Operator | None:
        digest = hashlib.sha256(token.encode("ascii")).hexdigest()
        return self._by_hash.get(digest)


def _unauthorized(message: str) -> ApiError:
    return ApiError(ErrorCode.UNAUTHORIZED, message, headers=dict(_CHALLENGE))


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750), or 401."""
    if authorization is None:
        raise _unauthorized("Operator token required")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if (
        scheme.lower() != "bearer"
        or not token
        or len(token) > MAX_TOKEN_LENGTH
        or not token.isascii()
        or not token.isprintable()
        or " " in token
    ):
        raise _unauthorized("Invalid operator token")
    return token


async def admit_operator(
    authorization: str | None,
    required: TokenScope,
    *,
    tokens: OperatorTokens,
    quotas: QuotaGate,
    client_ip: str,
) -> OperatorAdmission:
    """The operator behind the header, charged and allowed `required`; else 401/403/429."""
    try:
        operator = tokens.lookup(bearer_token(authorization))
        if operator is None:
            raise _unauthorized("Invalid operator token")
    except ApiError:
        # Charged to the address that guessed (429 once it is over its limit).
        await quotas.for_ip(client_ip)
        raise
    quota = await quotas.for_operator(operator.name)
    if not operator.may(required):
        raise ApiError(
            ErrorCode.PERMISSION_DENIED,
            "Operator token lacks permission",
            {"required": required.value, "granted": operator.scope.value},
            quota.headers(quotas.clock()),
        )
    return OperatorAdmission(operator, quota, client_ip)
