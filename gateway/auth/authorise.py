"""Authorisation: may this identity do this route to this order?

Runs after authentication and rate limiting. Checks, in order: the key's
permission, the key's IP allowlist, then ownership (the identity's wallet
must own the order, learned from the request body or from the upstream).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from gateway.addresses import Network, in_any, parse_network
from gateway.auth.authenticate import METHOD_API_KEY, METHOD_PUBLIC, Authenticator, Identity
from gateway.auth.ownership import OwnerResolver
from gateway.auth.policy import Route, RouteMatch
from gateway.errors import ApiError, ErrorCode, bad_request
from gateway.keys.model import ApiKey, Permission
from gateway.wallets import parse_wallet_address
from gateway.wallets.errors import InvalidWalletAddress

PERMISSION_ORDER = (Permission.CREATE, Permission.EXECUTE, Permission.CANCEL)


def permission_list(permissions: frozenset[Permission]) -> list[str]:
    return [p.value for p in PERMISSION_ORDER if p in permissions]


@lru_cache(maxsize=65536)
def canonical_owner(owner: str) -> str:
    """An owner as compared with wallets; an unparseable owner matches nobody."""
    try:
        return parse_wallet_address(owner).canonical
    except InvalidWalletAddress:
        return "\x00" + owner


@lru_cache(maxsize=4096)
def _networks(allowlist: tuple[str, ...]) -> tuple[Network, ...]:
    # Keys stored before entries were normalised may hold the mapped form.
    return tuple(parse_network(cidr) for cidr in allowlist)


def ip_allowed(client_ip: str, allowlist: tuple[str, ...]) -> bool:
    """IPv4-mapped addresses and entries both read as IPv4 (`gateway.addresses`)."""
    return in_any(client_ip, _networks(allowlist))


class AccessControl:
    def __init__(self, owners: OwnerResolver, authenticator: Authenticator) -> None:
        self._owners = owners
        self._authenticator = authenticator

    def check_key(self, key: ApiKey, permission: Permission | None, client_ip: str) -> None:
        if permission is not None and permission not in key.permissions:
            raise ApiError(
                ErrorCode.PERMISSION_DENIED,
                "API key lacks permission",
                {"required": permission.value, "granted": permission_list(key.permissions)},
            )
        if key.ip_allowlist and not ip_allowed(client_ip, key.ip_allowlist):
            raise ApiError(ErrorCode.IP_NOT_ALLOWED, "Client IP not allowed for this key")

    async def authorize(
        self,
        matched: RouteMatch,
        identity: Identity,
        body: Any,
        headers: Any,
        client_ip: str,
        request_id: str,
    ) -> None:
        route = matched.route
        if identity.key is not None:
            self.check_key(identity.key, route.permission, client_ip)
        if identity.method is METHOD_PUBLIC or route.owner == "none":
            return
        if route.owner == "body":
            await self._authorize_body_owner(route, identity, body, headers)
            return
        uuid = matched.params["uuid"]
        # A cached owner (every order but a new one) is read without a coroutine.
        owner = self._owners.known_owner(uuid)
        if owner is None:
            owner = await self._owners.owner_of(uuid, request_id)
        _check_owner(identity, owner, uuid)

    async def _authorize_body_owner(
        self, route: Route, identity: Identity, body: Any, headers: Any
    ) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("owner"), str):
            raise bad_request("Invalid request body", field="owner")
        owner = body["owner"]
        _check_owner(identity, owner, body.get("uuid"))
        if identity.method is METHOD_API_KEY:
            # With a key, the owner's signature over the order is still required.
            await self._authenticator.verify_order(route, body, headers)


def _check_owner(identity: Identity, owner: str, uuid: Any) -> None:
    if identity.wallet == canonical_owner(owner):
        return
    order_uuid = uuid if isinstance(uuid, str) else None
    if identity.method is METHOD_API_KEY:
        raise ApiError(
            ErrorCode.WALLET_MISMATCH,
            "API key not authorized for this wallet",
            {"apiKeyWallet": identity.wallet_display, "orderOwner": owner, "orderUuid": order_uuid},
        )
    raise ApiError(
        ErrorCode.WALLET_MISMATCH,
        "Wallet is not the order owner",
        {"wallet": identity.wallet_display, "orderOwner": owner, "orderUuid": order_uuid},
    )
