"""One door: `admit(gw, request, matched) -> Admission`, for every route of the table.

The only code that charges the client IP, authenticates, applies the quota,
authorises and writes who asked onto the request (`RequestState`). What a
route accepts and what it costs is declared in its `Route`
(`gateway.auth.routes`); the endings (forwarding, the auth-mode decision, key
management) receive the frozen `Admission` and never re-read a credential or
charge a limit themselves.

The sequence:
1. the body, when authentication or the ending needs it (bounded, parsed once);
2. the credential the request presents (`presented`), and what the client IP
   pays before checking it: the signing ceiling before a signature is
   verified, the creation ceiling before a key can be made, the public
   quota before an uncached key is looked up;
3. authentication; a failure is counted against the client IP, never against
   the key or wallet it named (a stranger cannot drain a victim's quota);
4. the route's rate-limit scope: the identity's own, or key management's;
5. authorisation (permission, IP allowlist, ownership) on forwarded routes.
The request's quota is written once, whatever the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.auth.authenticate import (
    METHOD_NAMES,
    METHOD_SIGNATURE,
    PUBLIC,
    Identity,
    header_wallet,
    key_identity,
    own_key_identity,
    presented,
    service_identity,
    service_name,
)
from gateway.auth.policy import RouteMatch
from gateway.auth.routes import (
    CHARGE_KEY_CREATION,
    CHARGE_KEY_LOOKUP,
    CHARGE_SIGNING,
    CREDENTIAL_API_KEY,
    CREDENTIAL_ORDER_SIGNATURE,
    CREDENTIAL_PUBLIC,
    CREDENTIAL_SERVICE_KEY,
    SCOPE_IDENTITY,
    SCOPE_MANAGEMENT,
    Route,
)
from gateway.http.body import Body, take_body
from gateway.http.context import STATE, Gateway, RequestState
from gateway.http.errors import REFUSALS, api_error
from gateway.keys.model import ApiKey
from gateway.ratelimit import Quota, RateLimited
from gateway.ratelimit.scopes import Scope
from gateway.records import record

Headers = CIMultiDictProxy[str]


@record
class Admission:
    """What the door decided: who asks, on which route, within which quota."""

    route: Route
    params: Mapping[str, str]
    identity: Identity
    quota: Quota
    body: Body = None  # as it will be forwarded or served (None: no body, or not read)
    parsed: Any = None  # its JSON, where authentication or the ending reads it


async def admit(
    gw: Gateway, request: web.Request, matched: RouteMatch, *, with_body: bool = True
) -> Admission:
    """Admit the request to `matched.route` or raise the refusal.

    `gw` is the app's (`request.app[GATEWAY]`), which the caller has already
    read. `with_body=False` for a decision on someone else's request (auth
    mode), whose body walletgate never sees.
    """
    state = request[STATE]
    route = matched.route
    state.route = route.template
    headers = request.headers
    body: Body = None
    parsed: Any = None
    if with_body and request.body_exists:
        body, parsed = await take_body(request, route, gw.settings.limits.max_body_bytes)
    ip = state.client_ip
    charges = route.ip_charges
    charged: Quota | None = None  # the client IP's latest charge for this request
    quota: Quota | None = None
    try:
        try:
            credential = presented(route, headers, parsed)
            if credential is CREDENTIAL_PUBLIC:
                identity = PUBLIC
            elif credential is CREDENTIAL_API_KEY:
                plaintext = headers["X-API-Key"]
                # The hot path: a cached key costs no store query and no IP charge.
                key = None if route.service_dialect else gw.keys.cached(plaintext)
                if key is not None:
                    gw.keys.ensure_usable(key)
                    identity = key_identity(key)
                elif (service := _service_identity(gw, route, headers, plaintext)) is not None:
                    identity = service
                else:
                    if CHARGE_KEY_CREATION in charges:
                        charged = await gw.quotas.for_key_creation_ip(ip)
                    key = gw.keys.cached(plaintext)
                    if key is None:
                        # A made-up key is free to invent, its address is not: the
                        # IP's public quota decides before the store is asked.
                        gw.keys.check_format(plaintext)
                        if CHARGE_KEY_LOOKUP in charges:
                            charged = await gw.quotas.for_ip(ip)
                        key = await gw.keys.load(plaintext)
                    identity = _usable_key(gw, route, key, headers, ip)
            else:
                # Throwaway wallets are free to make: the IP pays before recovery.
                if CHARGE_SIGNING in charges:
                    charged = await gw.quotas.for_signed_ip(ip)
                if CHARGE_KEY_CREATION in charges:
                    charged = await gw.quotas.for_key_creation_ip(ip)
                if credential is CREDENTIAL_ORDER_SIGNATURE:
                    identity = await gw.authenticator.order_signature(route, parsed, headers)
                else:
                    identity = await gw.authenticator.signed_message(
                        route, matched.params, headers, parsed
                    )
        except RateLimited:
            raise  # an IP charge refused: counted nowhere, and no failed credential
        except REFUSALS as exc:
            charged = await _charge_failure(gw, state, exc, charged)
            raise
        _note(state, identity)
        key = identity.key
        try:
            if key is not None and route.scope is SCOPE_IDENTITY:
                # The hot path, inline: the key's own quota.
                tier = gw.keys.tiers.of(key.wallet)
                quota = await gw.quotas.for_key(key.id, key.rate_limit, tier)
            else:
                quota = await _quota(gw, state, route, identity, charged)
        except RateLimited:
            if key is not None and route.scope is SCOPE_IDENTITY:
                gw.keys.record_rate_limited(key.id, state.client_ip)
            raise
        if route.forwarded:
            try:
                await gw.access.authorize(
                    matched, identity, parsed, headers, state.client_ip, state.request_id
                )
            except REFUSALS as exc:
                if key is not None:
                    gw.keys.record_usage(
                        key.id, api_error(exc).status, route.permission, state.client_ip
                    )
                raise
    finally:
        # The one write: the decision whose headers the answer carries.
        state.quota = quota if quota is not None else charged
    return Admission(route, matched.params, identity, quota, body, parsed)


def _service_identity(
    gw: Gateway, route: Route, headers: Headers, plaintext: str
) -> Identity | None:
    """An operator service key acting for X-Wallet-Address, where the route takes one.

    The operator's frontend serves every user from one address: it pays no
    per-IP creation ceiling.
    """
    if CREDENTIAL_SERVICE_KEY not in route.credentials:
        return None
    name = service_name(gw.service_key_hashes, plaintext)
    if name is None:
        return None
    wallet = header_wallet(headers, gw.settings.signatures.chains, required=True)
    assert wallet is not None
    return service_identity(name, wallet)


def _usable_key(gw: Gateway, route: Route, key: ApiKey, headers: Headers, ip: str) -> Identity:
    gw.keys.ensure_usable(key)
    if not route.service_dialect:
        return key_identity(key)
    # In the service-key dialect a wallet's own key is held to what it is held
    # to on any route: its own wallet only, and its IP allowlist.
    identity = own_key_identity(key, headers, gw.settings.signatures.chains)
    gw.access.check_key(key, None, ip)
    return identity


async def _charge_failure(
    gw: Gateway, state: RequestState, exc: Exception, charged: Quota | None
) -> Quota:
    """Count a failed authentication against the client IP (never against the key
    or wallet it named); 429 once the IP is over its limit."""
    error = api_error(exc)
    if error.status in (400, 401, 403):
        gw.metrics.count_auth_failure(error.code.value.lower())
    if charged is not None:
        return charged  # paid already, before the costly step
    quota = await gw.quotas.peek_ip(state.client_ip)
    if not quota.allowed:
        gw.metrics.count_rate_limited(Scope.IP)
        raise RateLimited(quota, gw.quotas.clock()) from exc
    return quota


async def _quota(
    gw: Gateway, state: RequestState, route: Route, identity: Identity, charged: Quota | None
) -> Quota:
    key = identity.key
    if route.scope is SCOPE_MANAGEMENT:
        # A wallet's own key is held to its own limit too; the answer carries
        # management's, which never consumes order quota.
        if key is not None:
            await gw.quotas.for_key(key.id, key.rate_limit, gw.keys.tiers.of(key.wallet))
        assert identity.wallet is not None
        return await gw.quotas.for_management(identity.wallet)
    # (A key's own quota on the identity scope is decided by `admit` itself.)
    if identity.order_only and charged is not None:
        # A public order signature is no claim on its owner's quota: the IP
        # that sent it has paid already (the signing ceiling, before verification).
        return charged
    if identity.method is METHOD_SIGNATURE and identity.wallet is not None:
        return await gw.quotas.for_wallet(identity.wallet, gw.keys.tiers.of(identity.wallet))
    return await gw.quotas.for_ip(state.client_ip)


def _note(state: RequestState, identity: Identity) -> None:
    """Who asked, for the access line and the metrics."""
    state.auth = METHOD_NAMES[identity.method]
    if identity.key is not None:
        state.key_id = identity.key.id
    if identity.wallet_display is not None:
        state.wallet = identity.wallet_display
