"""Who is asking: an `Identity` from an API key, a service key, a wallet signature, or nobody.

Shaped like starlette's authentication backends, without callbacks: `presented`
names the one credential a request offers on a route (the only place that
asks "does this request carry a signature"), and each scheme turns it into an
identity or raises for bad credentials. A credential that is present but bad
is always an error, never silently downgraded to public access. What the
client IP pays before each costly step is decided by the caller
(`gateway.http.admit`), between the steps, never from down here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any

from multidict import CIMultiDictProxy

from gateway.auth.routes import (
    CREDENTIAL_API_KEY,
    CREDENTIAL_ORDER_SIGNATURE,
    CREDENTIAL_PUBLIC,
    CREDENTIAL_SERVICE_KEY,
    CREDENTIAL_SIGNED_MESSAGE,
    Credential,
    Route,
)
from gateway.errors import ApiError, ErrorCode
from gateway.keys.model import ApiKey
from gateway.keys.service import KeyService
from gateway.order_spec import CANONICAL_JSON
from gateway.records import record
from gateway.wallets import (
    SignatureVerifier,
    WalletAddress,
    parse_wallet_address,
    read_signed_message,
)
from gateway.wallets.order_verify import OrderVerifier


class AuthMethod(StrEnum):
    API_KEY = "api_key"
    SIGNATURE = "signature"
    PUBLIC = "public"


@record
class Identity:
    method: AuthMethod
    wallet: str | None = None  # canonical form
    wallet_display: str | None = None
    key: ApiKey | None = None
    # Authenticated by an order's own signature: it proves authorship of that
    # order only, so the request is charged to the client IP, never the wallet.
    order_only: bool = False
    # The wallet parsed, where an ending needs more than its two spellings
    # (a signer's, or the wallet a service key acts for).
    address: WalletAddress | None = None
    # The fields of the signed message that authenticated the request.
    fields: Mapping[str, Any] | None = None
    # The operator service key's name, when one acts for `wallet`.
    service: str | None = None


PUBLIC = Identity(AuthMethod.PUBLIC)
# Read once for the request paths, as `gateway.auth.routes` reads its members.
METHOD_API_KEY = AuthMethod.API_KEY
METHOD_SIGNATURE = AuthMethod.SIGNATURE
METHOD_PUBLIC = AuthMethod.PUBLIC
SIGNATURES = frozenset({CREDENTIAL_SIGNED_MESSAGE, CREDENTIAL_ORDER_SIGNATURE})
# What the access line, metrics and X-Gateway-Auth call each method (a plain str).
METHOD_NAMES = {method: method.value for method in AuthMethod}


def api_key_required() -> ApiError:
    return ApiError(ErrorCode.UNAUTHORIZED, "API key required")


def key_identity(key: ApiKey) -> Identity:
    return Identity(METHOD_API_KEY, key.wallet, key.wallet_display, key)


def presented(route: Route, headers: Mapping[str, str], body: Any) -> Credential:
    """The credential this request offers on `route`; 401 when it offers none the
    route accepts. A key wins over a signature, as a signed request never sends one."""
    accepted = route.credentials
    if "X-API-Key" in headers and (
        CREDENTIAL_API_KEY in accepted or CREDENTIAL_SERVICE_KEY in accepted
    ):
        return CREDENTIAL_API_KEY
    form = body if isinstance(body, dict) else None
    if CREDENTIAL_SIGNED_MESSAGE in accepted and (
        "X-Message" in headers
        or "X-Signature" in headers
        or (form is not None and ("message" in form or "signature" in form))
    ):
        return CREDENTIAL_SIGNED_MESSAGE
    if CREDENTIAL_ORDER_SIGNATURE in accepted and form is not None and "signature" in form:
        return CREDENTIAL_ORDER_SIGNATURE
    if CREDENTIAL_PUBLIC in accepted:
        return CREDENTIAL_PUBLIC
    if accepted == {CREDENTIAL_SIGNED_MESSAGE}:
        # Verification says what is missing ("Signature required").
        return CREDENTIAL_SIGNED_MESSAGE
    raise api_key_required()


def wants_body(route: Route, headers: Mapping[str, str]) -> bool:
    """Whether authentication may need the JSON body: an order signature is in it;
    a signed message may be, unless a key or signature headers are sent."""
    if CREDENTIAL_ORDER_SIGNATURE in route.credentials:
        return True
    return (
        CREDENTIAL_SIGNED_MESSAGE in route.credentials
        and "X-API-Key" not in headers
        and "X-Signature" not in headers
    )


class Authenticator:
    def __init__(
        self, keys: KeyService, verifier: SignatureVerifier, orders: OrderVerifier
    ) -> None:
        self.keys = keys
        self.verifier = verifier
        self.orders = orders

    async def signed_message(
        self, route: Route, params: Mapping[str, str], headers: CIMultiDictProxy[str], body: Any
    ) -> Identity:
        signed = read_signed_message(body if isinstance(body, dict) else None, headers)
        if signed is None or route.action is None:
            raise ApiError(ErrorCode.UNAUTHORIZED, "Signature required")
        verified = await self.verifier.verify(signed, action=route.action, bound=params)
        wallet = verified.wallet
        # Positional (method, wallet, display, key, order_only, address, fields):
        # keywords cost more to bind on this per-request call.
        return Identity(
            METHOD_SIGNATURE, wallet.canonical, wallet.display, None, False, wallet, verified.fields
        )

    async def order_signature(
        self, route: Route, order: dict[str, Any], headers: Mapping[str, str]
    ) -> Identity:
        # Wallet-only order creation: the order's own signature is the
        # credential, good for this one order once (its scheme, owner and uuid).
        wallet = await self.verify_order(route, order, headers)
        return Identity(
            METHOD_SIGNATURE, wallet.canonical, wallet.display, order_only=True, address=wallet
        )

    async def verify_order(
        self, route: Route, order: dict[str, Any], headers: Mapping[str, str]
    ) -> WalletAddress:
        """The order's signature under the route's scheme; its (scheme, owner, uuid) once."""
        scheme = route.order_scheme or CANONICAL_JSON
        return await self.orders.verify(scheme, order, headers.get("X-Public-Key"))


def service_name(hashes: Mapping[str, str], presented_key: str) -> str | None:
    """The operator service key's name, or None when `presented_key` is none of them.

    Looked up by hash: the plaintext is never compared, so timing reveals nothing.
    """
    digest = hashlib.sha256(presented_key.encode("utf-8", "surrogatepass")).hexdigest()
    return hashes.get(digest)


def header_wallet(
    headers: Mapping[str, str], chains: Collection[str], *, required: bool
) -> WalletAddress | None:
    """The wallet named in X-Wallet-Address (service-key dialect)."""
    sent = headers.get("X-Wallet-Address")
    if sent is None:
        if required:
            raise ApiError(
                ErrorCode.INVALID_WALLET,
                "Invalid wallet address",
                {"reason": "X-Wallet-Address is required with a service key"},
            )
        return None
    return parse_wallet_address(sent, chains)


def service_identity(name: str, wallet: WalletAddress) -> Identity:
    return Identity(METHOD_API_KEY, wallet.canonical, wallet.display, address=wallet, service=name)


def own_key_identity(key: ApiKey, headers: Mapping[str, str], chains: Collection[str]) -> Identity:
    """A wallet's own key acting in the service-key dialect: for its own wallet only."""
    sent = header_wallet(headers, chains, required=False)
    if sent is not None and sent.canonical != key.wallet:
        raise ApiError(
            ErrorCode.WALLET_MISMATCH,
            "API key not authorized for this wallet",
            {"apiKeyWallet": key.wallet_display, "walletAddress": sent.display},
        )
    wallet = parse_wallet_address(key.wallet_display, chains)
    return Identity(METHOD_API_KEY, key.wallet, key.wallet_display, key, address=wallet)
