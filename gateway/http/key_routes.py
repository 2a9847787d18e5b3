"""Key management of both dialects: endings of the one door (`gateway.http.admit`).

Wallet-signed keys: `/api/v1/api-keys...`, every call signed by the wallet.
Service-key dialect: `/api-key/generate` and `/api-key/revoke`, by service key
plus `X-Wallet-Address`, or by the wallet's own key.
Each handler receives the `Admission` (the wallet, the signed fields, who
acts) and never reads a credential or charges a limit itself; management's
per-wallet scope was applied at the door. Every answer is `no-store`: some
carry a key's only plaintext copy, the others a wallet's keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from gateway.auth.authorise import permission_list
from gateway.auth.routes import Ending
from gateway.errors import ApiError, ErrorCode, utc_timestamp
from gateway.http.admit import Admission
from gateway.http.context import GATEWAY, STATE, Gateway
from gateway.http.key_fields import event_page, new_key_from_message, rotation_grace
from gateway.keys.audit import WALLET_ACTOR, EventKind, Origin, key_actor, service_actor
from gateway.keys.clients import ClientIp
from gateway.keys.history import HourlyUsage
from gateway.keys.model import ApiKey, Dialect, KeyStatus, Permission
from gateway.keys.service import NewKey
from gateway.wallets import WalletAddress

GENERATED_MESSAGE = "API key generated successfully. Save this key - it won't be shown again!"
# Keys, and lists of a wallet's keys, are never kept by a cache on the way.
NO_STORE: Final = {"Cache-Control": "no-store"}


def answer(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers=NO_STORE)


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


def origin_of(request: web.Request, admission: Admission) -> Origin:
    """Who acts, for the audit trail: the wallet, its own key, or a service key."""
    identity = admission.identity
    if identity.service is not None:
        actor = service_actor(identity.service)
    elif identity.key is not None:
        actor = key_actor(identity.key.id)
    else:
        actor = WALLET_ACTOR
    return Origin(actor, request[STATE].client_ip)


def signed_fields(admission: Admission) -> Mapping[str, Any]:
    fields = admission.identity.fields
    assert fields is not None  # the signed routes' one credential is a signed message
    return fields


def wallet_of(admission: Admission) -> WalletAddress:
    wallet = admission.identity.address
    assert wallet is not None  # every management credential names its wallet
    return wallet


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


async def create_api_key(request: web.Request, admission: Admission) -> web.Response:
    gw = request.app[GATEWAY]
    fields = signed_fields(admission)
    new_key = new_key_from_message(fields, wallet_of(admission), gw.settings, gw.keys.now())
    key, plaintext = await gw.keys.create(new_key, origin_of(request, admission))
    return answer(created_json(key, plaintext), status=201)


async def list_api_keys(request: web.Request, admission: Admission) -> web.Response:
    gw = request.app[GATEWAY]
    now = gw.keys.now()
    keys = await gw.keys.list_for(wallet_of(admission).canonical)
    hourly = await gw.keys.hourly_for(keys)
    clients = await gw.keys.clients_for(keys)
    return answer({"apiKeys": [key_json(k, now, hourly[k.id], clients[k.id]) for k in keys]})


async def get_api_key(request: web.Request, admission: Admission) -> web.Response:
    gw = request.app[GATEWAY]
    key = await gw.keys.get_for(wallet_of(admission).canonical, admission.params["keyId"])
    hourly = await gw.keys.hourly_for([key])
    clients = await gw.keys.clients_for([key])
    return answer(key_json(key, gw.keys.now(), hourly[key.id], clients[key.id]))


async def delete_api_key(request: web.Request, admission: Admission) -> web.Response:
    gw = request.app[GATEWAY]
    key = await gw.keys.revoke_for(
        wallet_of(admission).canonical, admission.params["keyId"], origin_of(request, admission)
    )
    return answer({"message": f"API key '{key.name}' has been revoked"})


async def rotate_api_key(request: web.Request, admission: Admission) -> web.Response:
    gw = request.app[GATEWAY]
    key_id = admission.params["keyId"]
    grace = rotation_grace(signed_fields(admission))
    key, plaintext = await gw.keys.rotate_for(
        wallet_of(admission).canonical, key_id, grace, origin_of(request, admission)
    )
    body = created_json(key, plaintext) | {"replacesKeyId": key_id, "graceSeconds": grace}
    return answer(body, status=201)


async def list_api_key_events(request: web.Request, admission: Admission) -> web.Response:
    """The key's audit trail, newest first, a page at a time (`cursor`, `limit`)."""
    gw = request.app[GATEWAY]
    before, limit = event_page(request.query)
    events = await gw.keys.events_for(
        wallet_of(admission).canonical,
        admission.params["keyId"],
        before_seq=before,
        limit=limit + 1,
    )
    page = events[:limit]
    more = len(events) > limit
    return answer(
        {
            "events": [e.to_json() for e in page],
            "nextCursor": str(page[-1].seq) if more and page else None,
        }
    )


# -- service-key dialect --------------------------------------------------------


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


async def generate_api_key(request: web.Request, admission: Admission) -> web.Response:
    gw = request.app[GATEWAY]
    wallet = wallet_of(admission)
    new_key = minted_key(gw, wallet, admission.identity.key)
    key, plaintext = await gw.keys.create(
        new_key,
        origin_of(request, admission),
        exclusive=gw.settings.keys.one_active_per_wallet_evm,
        kind=EventKind.GENERATED,
    )
    return answer(
        {
            "success": True,
            "api_key": plaintext,
            "wallet_address": wallet.display,
            "created_at": iso(key.created_at),
            "message": GENERATED_MESSAGE,
        }
    )


async def revoke_evm_api_key(request: web.Request, admission: Admission) -> web.Response:
    gw = request.app[GATEWAY]
    wallet = wallet_of(admission)
    target = admission.identity.key or await gw.keys.active_key_for(wallet.canonical, Dialect.EVM)
    if target is None:
        raise ApiError(ErrorCode.NOT_FOUND, "No active API key for this wallet")
    await gw.keys.set_status(target.id, KeyStatus.REVOKED, origin_of(request, admission))
    return answer(
        {
            "success": True,
            "wallet_address": wallet.display,
            "revoked_at": utc_timestamp(gw.keys.now()),
            "message": "API key revoked successfully",
        }
    )


KeyEnding = Callable[[web.Request, Admission], Awaitable[web.Response]]

KEY_ENDINGS: Final[Mapping[Ending, KeyEnding]] = {
    Ending.CREATE_KEY: create_api_key,
    Ending.LIST_KEYS: list_api_keys,
    Ending.GET_KEY: get_api_key,
    Ending.REVOKE_KEY: delete_api_key,
    Ending.ROTATE_KEY: rotate_api_key,
    Ending.LIST_KEY_EVENTS: list_api_key_events,
    Ending.GENERATE_KEY: generate_api_key,
    Ending.REVOKE_WALLET_KEY: revoke_evm_api_key,
}


def check_key_request(request: web.Request, ending: Ending) -> None:
    """Shape checks that cost nothing, made before admission spends a signature."""
    if ending == Ending.LIST_KEY_EVENTS:
        event_page(request.query)
