"""Who is asking: an `Identity` from an API key, a wallet signature, or nobody.

Shaped like starlette's authentication backends: each scheme looks at the
request and returns an identity, `None` for "not my scheme", or raises for
bad credentials. A credential that is present but bad is always an error,
never silently downgraded to public access.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from multidict import CIMultiDictProxy

from gateway.auth.policy import Route, RouteMatch
from gateway.errors import ApiError, ErrorCode
from gateway.keys.model import ApiKey
from gateway.keys.service import KeyService
from gateway.order_spec import CANONICAL_JSON
from gateway.wallets import SignatureVerifier, WalletAddress, read_signed_message
from gateway.wallets.order_verify import OrderVerifier


class AuthMethod(StrEnum):
    API_KEY = "api_key"
    SIGNATURE = "signature"
    PUBLIC = "public"


@dataclass(frozen=True, slots=True)
class Identity:
    method: AuthMethod
    wallet: str | None = None  # canonical form
    wallet_display: str | None = None
    key: ApiKey | None = None
    # Authenticated by an order's own signature: it proves authorship of that
    # order only, so the request is charged to the client IP, never the wallet.
    order_only: bool = False


PUBLIC = Identity(AuthMethod.PUBLIC)


def api_key_required() -> ApiError:
    return ApiError(ErrorCode.UNAUTHORIZED, "API key required")


def wallet_identity(wallet: WalletAddress) -> Identity:
    return Identity(AuthMethod.SIGNATURE, wallet.canonical, wallet.display)


class Authenticator:
    def __init__(
        self, keys: KeyService, verifier: SignatureVerifier, orders: OrderVerifier
    ) -> None:
        self.keys = keys
        self.verifier = verifier
        self.orders = orders

    async def authenticate(
        self,
        matched: RouteMatch,
        headers: CIMultiDictProxy[str],
        body: Any,
        before_key_lookup: Callable[[], Awaitable[object]] | None = None,
    ) -> Identity:
        identity = await self.by_api_key(headers, before_key_lookup)
        if identity is None:
            identity = await self.by_signature(matched, headers, body)
        if identity is not None:
            return identity
        if matched.route.public:
            return PUBLIC
        raise api_key_required()

    async def by_api_key(
        self,
        headers: Mapping[str, str],
        before_lookup: Callable[[], Awaitable[object]] | None = None,
    ) -> Identity | None:
        plaintext = headers.get("X-API-Key")
        if plaintext is None:
            return None
        key = await self.keys.authenticate(plaintext, before_lookup)
        return Identity(AuthMethod.API_KEY, key.wallet, key.wallet_display, key)

    async def by_signature(
        self, matched: RouteMatch, headers: CIMultiDictProxy[str], body: Any
    ) -> Identity | None:
        route = matched.route
        if route.action is not None:
            signed = read_signed_message(body if isinstance(body, dict) else None, headers)
            if signed is not None:
                verified = await self.verifier.verify(
                    signed, action=route.action, bound=matched.params
                )
                return wallet_identity(verified.wallet)
        if route.order_signature and isinstance(body, dict) and "signature" in body:
            # Wallet-only order creation: the order's own signature is the
            # credential, good for this one order once (its scheme, owner and uuid).
            wallet = await self.verify_order(route, body, headers)
            return Identity(AuthMethod.SIGNATURE, wallet.canonical, wallet.display, order_only=True)
        return None

    async def verify_order(
        self, route: Route, order: dict[str, Any], headers: Mapping[str, str]
    ) -> WalletAddress:
        """The order's signature under the route's scheme; its (scheme, owner, uuid) once."""
        scheme = route.order_scheme or CANONICAL_JSON
        return await self.orders.verify(scheme, order, headers.get("X-Public-Key"))
