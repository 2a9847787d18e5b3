"""Key-management handlers of both dialects.

Wallet-signed keys: `/api/v1/api-keys...`, every call signed by the wallet.
Service-key dialect: `/api-key/generate` and `/api-key/revoke`, by service key
plus `X-Wallet-Address`, or by the wallet's own key.
Management has its own per-wallet rate-limit scope, never order quota.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from gateway.auth.authenticate import AuthMethod
from gateway.auth.authorise import permission_list
from gateway.errors import ApiError, ErrorCode, utc_timestamp
from gateway.http.context import GATEWAY, STATE, Gateway
from gateway.http.errors import REFUSALS, api_error
from gateway.http.key_fields import event_page, new_key_from_message, rotation_grace
from gateway.http.pipeline import charge_ip, parse_json_body, read_body, refuse_unauthenticated
from gateway.keys.audit import WALLET_ACTOR, EventKind, Origin, key_actor, service_actor
from gateway.keys.clients import ClientIp
from gateway.keys.history import HourlyUsage
from gateway.keys.model import ApiKey, Dialect, KeyStatus, Permission
from gateway.keys.service import NewKey
from gateway.wallets import (
    VerifiedMessage,
    WalletAddress,
    parse_wallet_address,
    read_signed_message,
)

GENERATED_MESSAGE = "API key generated successfully. Save this key - it won't be shown again!"


def iso(moment: Any) -> str | None:
    return utc_timestamp(moment) if moment is not None else None


def key_json(
    key: ApiKey,
    now: Any,
    hourly: list[HourlyUsage] | None = None,
    clients: list[ClientIp] | None = None,
) -> dict[str, Any]:
    """A key as wallets see it: never the key itself nor its hash."""
    return {
        "id": key.id,
        "keyId": key.id,
        "walletAddress": key.wallet_display,
        "name": key.name,
        "status": key.effective_status(now).value,
        "permissions": permission_list(key.permissions),
        "rateLimit": key.rate_limit,
        "createdAt": iso(key.created_at),
        "lastUsedAt": iso(key.last_used_at),
        "expiresAt": iso(key.expires_at),
        "revokesAt": iso(key.revoke_at) if key.status != KeyStatus.REVOKED else None,
        "ipAllowlist": list(key.ip_allowlist),
        "usageStats": key.usage.to_json() | {"hourly": [h.to_json() for h in hourly or ()]},
        "keyHint": key.key_hint,
        "clientIps": [c.to_json() for c in clients or ()],
    }


def wallet_origin(request: web.Request) -> Origin:
    return Origin(WALLET_ACTOR, request[STATE].client_ip)


def created_json(key: ApiKey, plaintext: str) -> dict[str, Any]:
    return {
        "apiKey": plaintext,
        "keyId": key.id,
        "name": key.name,
        "permissions": permission_list(key.permissions),
        "rateLimit": key.rate_limit,
        "createdAt": iso(key.created_at),
        "walletAddress": key.wallet_display,
        "keyHint": key.key_hint,
        "expiresAt": iso(key.expires_at),
        "ipAllowlist": list(key.ip_allowlist),
    }


async def verified_wallet(
    request: web.Request,
    action: str,
    bound: dict[str, str] | None = None,
    *,
    creates_key: bool = False,
) -> tuple[Gateway, VerifiedMessage]:
    """The wallet that signed this management request, within its own quota.

    The client IP pays first, before the signature is checked: its signing
    ceiling, and for a request that makes a key the tighter creation ceiling.
    """
    gw = request.app[GATEWAY]
    await charge_ip(request, gw.quotas.for_signed_ip)
    if creates_key:
        await charge_ip(request, gw.quotas.for_key_creation_ip)
    try:
        body = None
        if request.body_exists:
            body = parse_json_body(await read_body(request, gw.settings.limits.max_body_bytes))
        signed = read_signed_message(body if isinstance(body, dict) else None, request.headers)
        if signed is None:
            raise ApiError(ErrorCode.UNAUTHORIZED, "Signature required")
        verified = await gw.verifier.verify(signed, action=action, bound=bound or {})
    except REFUSALS as exc:
        await refuse_unauthenticated(request, gw, api_error(exc))
        raise
    request[STATE].auth = AuthMethod.SIGNATURE.value
    request[STATE].wallet = verified.wallet.display
    request[STATE].quota = await gw.quotas.for_management(verified.wallet.canonical)
    return gw, verified


async def create_api_key(request: web.Request) -> web.Response:
    gw, verified = await verified_wallet(request, "create_api_key", creates_key=True)
    new_key = new_key_from_message(verified.fields, verified.wallet, gw.settings, gw.keys.now())
    key, plaintext = await gw.keys.create(new_key, wallet_origin(request))
    return web.json_response(created_json(key, plaintext), status=201)


async def list_api_keys(request: web.Request) -> web.Response:
    gw, verified = await verified_wallet(request, "list_api_keys")
    now = gw.keys.now()
    keys = await gw.keys.list_for(verified.wallet.canonical)
    hourly = await gw.keys.hourly_for(keys)
    clients = await gw.keys.clients_for(keys)
    return web.json_response(
        {"apiKeys": [key_json(k, now, hourly[k.id], clients[k.id]) for k in keys]}
    )


async def get_api_key(request: web.Request) -> web.Response:
    key_id = request.match_info["keyId"]
    gw, verified = await verified_wallet(request, "get_api_key", {"keyId": key_id})
    key = await gw.keys.get_for(verified.wallet.canonical, key_id)
    hourly = await gw.keys.hourly_for([key])
    clients = await gw.keys.clients_for([key])
    return web.json_response(key_json(key, gw.keys.now(), hourly[key.id], clients[key.id]))


async def delete_api_key(request: web.Request) -> web.Response:
    key_id = request.match_info["keyId"]
    gw, verified = await verified_wallet(request, "delete_api_key", {"keyId": key_id})
    key = await gw.keys.revoke_for(verified.wallet.canonical, key_id, wallet_origin(request))
    return web.json_response({"message": f"API key '{key.name}' has been revoked"})


async def rotate_api_key(request: web.Request) -> web.Response:
    key_id = request.match_info["keyId"]
    gw, verified = await verified_wallet(
        request, "rotate_api_key", {"keyId": key_id}, creates_key=True
    )
    grace = rotation_grace(verified.fields)
    key, plaintext = await gw.keys.rotate_for(
        verified.wallet.canonical, key_id, grace, wallet_origin(request)
    )
    body = created_json(key, plaintext) | {"replacesKeyId": key_id, "graceSeconds": grace}
    return web.json_response(body, status=201)


async def list_api_key_events(request: web.Request) -> web.Response:
    """The key's audit trail, newest first, a page at a time (`cursor`, `limit`)."""
    key_id = request.match_info["keyId"]
    before, limit = event_page(request.query)
    gw, verified = await verified_wallet(request, "list_api_key_events", {"keyId": key_id})
    events = await gw.keys.events_for(
        verified.wallet.canonical, key_id, before_seq=before, limit=limit + 1
    )
    page = events[:limit]
    more = len(events) > limit
    return web.json_response(
        {
            "events": [e.to_json() for e in page],
            "nextCursor": str(page[-1].seq) if more and page else None,
        }
    )


# -- service-key dialect --------------------------------------------------------


def _service_name(gw: Gateway, presented: str) -> str | None:
    # Lookup by hash: the plaintext is never compared, so timing reveals nothing.
    digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()
    return gw.service_key_hashes.get(digest)


def _header_wallet(gw: Gateway, request: web.Request, required: bool) -> WalletAddress | None:
    sent = request.headers.get("X-Wallet-Address")
    if sent is None:
        if required:
            raise ApiError(
                ErrorCode.INVALID_WALLET,
                "Invalid wallet address",
                {"reason": "X-Wallet-Address is required with a service key"},
            )
        return None
    return parse_wallet_address(sent, gw.settings.signatures.chains)


async def _evm_caller(
    request: web.Request, *, creates_key: bool
) -> tuple[Gateway, WalletAddress, ApiKey | None, Origin]:
    """(wallet acted for, the caller's own key or None for a service key, who acts).

    A wallet's own key is held to everything it is held to on any route: it
    must be usable, used from its IP allowlist and within its rate limit.
    A service key is the operator's trusted frontend, whose one address
    serves every user: it is exempt from the per-IP creation ceiling.
    """
    gw = request.app[GATEWAY]
    try:
        presented = request.headers.get("X-API-Key")
        if presented is None:
            raise ApiError(ErrorCode.UNAUTHORIZED, "API key required")
        service = _service_name(gw, presented)
        if service is not None:
            wallet = _header_wallet(gw, request, required=True)
            assert wallet is not None
            own_key = None
            origin = Origin(service_actor(service), request[STATE].client_ip)
        else:
            if creates_key:
                await charge_ip(request, gw.quotas.for_key_creation_ip)
            own_key = await gw.keys.authenticate(
                presented, lambda: charge_ip(request, gw.quotas.for_ip)
            )
            wallet = _own_wallet(gw, request, own_key)
            gw.access.check_key(own_key, None, request[STATE].client_ip)
            origin = Origin(key_actor(own_key.id), request[STATE].client_ip)
    except REFUSALS as exc:
        await refuse_unauthenticated(request, gw, api_error(exc))
        raise
    request[STATE].auth = AuthMethod.API_KEY.value
    request[STATE].wallet = wallet.display
    if own_key is not None:
        request[STATE].key_id = own_key.id
        request[STATE].quota = await gw.quotas.for_key(own_key.id, own_key.rate_limit)
    request[STATE].quota = await gw.quotas.for_management(wallet.canonical)
    return gw, wallet, own_key, origin


def _own_wallet(gw: Gateway, request: web.Request, key: ApiKey) -> WalletAddress:
    sent = _header_wallet(gw, request, required=False)
    if sent is not None and sent.canonical != key.wallet:
        raise ApiError(
            ErrorCode.WALLET_MISMATCH,
            "API key not authorized for this wallet",
            {"apiKeyWallet": key.wallet_display, "walletAddress": sent.display},
        )
    return parse_wallet_address(key.wallet_display, gw.settings.signatures.chains)


def minted_key(gw: Gateway, wallet: WalletAddress, parent: ApiKey | None) -> NewKey:
    """What /api-key/generate makes: the defaults for a service key; for a
    wallet's own key never more than that key has (permissions, allowlist,
    rate limit) and never longer-lived (its expiry or scheduled revocation)."""
    settings = gw.settings
    permissions = frozenset(Permission(p) for p in settings.keys.default_permissions)
    rate_limit = settings.rate_limits.per_minute
    allowlist: tuple[str, ...] = ()
    expires_at = None
    if parent is not None:
        permissions &= parent.permissions
        rate_limit = min(rate_limit, parent.rate_limit)
        allowlist = parent.ip_allowlist
        ends = [moment for moment in (parent.expires_at, parent.revoke_at) if moment is not None]
        expires_at = min(ends, default=None)
    return NewKey(
        wallet=wallet.canonical,
        wallet_display=wallet.display,
        chain=wallet.chain.value,
        dialect=Dialect.EVM,
        name="api-key",
        permissions=permissions,
        rate_limit=rate_limit,
        ip_allowlist=allowlist,
        expires_at=expires_at,
    )


async def generate_api_key(request: web.Request) -> web.Response:
    gw, wallet, parent, origin = await _evm_caller(request, creates_key=True)
    settings = gw.settings
    new_key = minted_key(gw, wallet, parent)
    key, plaintext = await gw.keys.create(
        new_key,
        origin,
        exclusive=settings.keys.one_active_per_wallet_evm,
        kind=EventKind.GENERATED,
    )
    return web.json_response(
        {
            "success": True,
            "api_key": plaintext,
            "wallet_address": wallet.display,
            "created_at": iso(key.created_at),
            "message": GENERATED_MESSAGE,
        }
    )


async def revoke_evm_api_key(request: web.Request) -> web.Response:
    gw, wallet, own_key, origin = await _evm_caller(request, creates_key=False)
    target = own_key or await gw.keys.active_key_for(wallet.canonical, Dialect.EVM)
    if target is None:
        raise ApiError(ErrorCode.NOT_FOUND, "No active API key for this wallet")
    await gw.keys.set_status(target.id, KeyStatus.REVOKED, origin)
    return web.json_response(
        {
            "success": True,
            "wallet_address": wallet.display,
            "revoked_at": utc_timestamp(gw.keys.now()),
            "message": "API key revoked successfully",
        }
    )


def add_key_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/api-keys", create_api_key)
    app.router.add_get("/api/v1/api-keys", list_api_keys, allow_head=False)
    app.router.add_get("/api/v1/api-keys/{keyId}", get_api_key, allow_head=False)
    app.router.add_delete("/api/v1/api-keys/{keyId}", delete_api_key)
    app.router.add_post("/api/v1/api-keys/{keyId}/rotate", rotate_api_key)
    app.router.add_get("/api/v1/api-keys/{keyId}/events", list_api_key_events, allow_head=False)
    app.router.add_post("/api-key/generate", generate_api_key)
    app.router.add_post("/api-key/revoke", revoke_evm_api_key)
