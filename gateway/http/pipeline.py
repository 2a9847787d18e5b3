"""The forwarded-route pipeline: route -> IP -> authenticate -> limit -> authorise -> end.

One pipeline, two endings: proxy mode forwards what `guard` admits; the
decision endpoint of auth mode (`decision.py`) runs the same `guard` and
answers 200 with the identity headers for an ingress to forward instead.

Every step is a call into its own module; this handler only sequences them
and records the outcome (usage counts, owner cache priming).

Work that costs the gateway (a signature recovery, a key-store query) is
charged to the client IP first: a signed request to the per-IP signing
ceiling, an uncached key to the public per-IP quota. Throwaway wallets and
made-up keys are free to invent; the address they come from is not.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.auth.authenticate import AuthMethod, Identity
from gateway.auth.policy import RouteMatch
from gateway.errors import ApiError, ErrorCode, bad_request
from gateway.http.context import (
    GATEWAY,
    STATE,
    Gateway,
    RequestState,
    forwarded_hops,
    is_trusted,
)
from gateway.http.errors import REFUSALS, api_error
from gateway.http.middleware import add_response_headers
from gateway.http.target import (
    Target,
    refuse_encoded_body,
    refuse_unforwardable_body,
    request_target,
)
from gateway.ratelimit import Quota
from gateway.ratelimit.scopes import rate_limited
from gateway.upstream.connection import UpstreamTimeout, UpstreamUnavailable
from gateway.upstream.forwarder import (
    BUFFER_LIMIT,
    relayed_status,
    request_headers,
    upstream_failure,
)


def payload_too_large(limit: int) -> ApiError:
    return ApiError(ErrorCode.PAYLOAD_TOO_LARGE, "Request body too large", {"limit": limit})


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise payload_too_large(limit)
    chunks = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise payload_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def stream_body(request: web.Request, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives; large bodies never sit in memory whole."""
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise payload_too_large(limit)
        yield chunk


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise ValueError("duplicate key")
    return fields


# A signed order is forwarded as sent: a key given twice would be read one way
# here and maybe the other way upstream, so such a body is refused.
_ORDER_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)


def parse_json_body(raw: bytes, *, unique_keys: bool = False) -> Any:
    if not raw:
        return None
    try:
        if unique_keys:
            return _ORDER_DECODER.decode(raw.decode("utf-8"))
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request("Invalid request body", reason="body is not valid JSON") from None


SIGNED_FIELDS = frozenset({"message", "signature", "walletAddress", "publicKey"})


def without_signed_fields(
    parsed: Any, body: bytes | AsyncIterator[bytes] | None
) -> bytes | AsyncIterator[bytes] | None:
    """A body that carried the signed message, minus it: credentials stay here."""
    if not isinstance(parsed, dict) or not SIGNED_FIELDS & parsed.keys():
        return body
    rest = {name: value for name, value in parsed.items() if name not in SIGNED_FIELDS}
    return json.dumps(rest).encode() if rest else None


def wants_parsed_body(matched: RouteMatch, request: web.Request) -> bool:
    route = matched.route
    if route.order_signature:
        return True
    # A signed message may travel in the body only when no key is sent.
    return (
        route.action is not None
        and "X-API-Key" not in request.headers
        and "X-Signature" not in request.headers
    )


async def handle_forwarded(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    target = request_target(request.raw_path)
    matched = gw.routes.match(request.method, target.path)
    return await forward_matched(request, gw, matched, target)


async def forward_matched(
    request: web.Request, gw: Gateway, matched: RouteMatch, target: Target | None = None
) -> web.StreamResponse:
    """Proxy mode's ending: the shared steps, then the request goes upstream."""
    if target is None:
        target = request_target(request.raw_path)
    route = matched.route
    request[STATE].route = route.template
    refuse_unforwardable_body(request.method, request.body_exists)
    limit = gw.settings.limits.max_body_bytes
    parse = wants_parsed_body(matched, request)
    if parse:
        refuse_encoded_body(request.headers)
    body: bytes | AsyncIterator[bytes] | None = None
    parsed: Any = None
    if request.body_exists:
        declared = request.content_length
        if parse or (declared is not None and declared <= BUFFER_LIMIT):
            body = await read_body(request, limit)
            parsed = parse_json_body(body, unique_keys=route.order_signature) if parse else None
        else:
            body = stream_body(request, limit)

    async def forward_admitted(identity: Identity) -> web.StreamResponse:
        sent = body
        if identity.method == AuthMethod.SIGNATURE and route.action is not None:
            sent = without_signed_fields(parsed, body)
        return await forward(request, gw, identity, target.origin_form, sent)

    response = await guard(request, gw, matched, request.headers, parsed, forward_admitted)
    if route.order_signature and response.status == 201:
        prime_owner(gw, response)
    return response


def note_identity(state: RequestState, identity: Identity) -> None:
    """Who asked, for the access line."""
    state.auth = identity.method.value
    if identity.key is not None:
        state.key_id = identity.key.id
    if identity.wallet_display is not None:
        state.wallet = identity.wallet_display


def prime_owner(gw: Gateway, response: web.StreamResponse) -> None:
    """Learn the new order's owner from the upstream's own answer, never from
    the request: the upstream may assign its own uuid or accept a duplicate."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return  # streamed: the owner is looked up when first needed
    try:
        reply = json.loads(response.body)
    except (ValueError, RecursionError):
        return
    gw.owners.prime_from_reply(reply)


def carries_signature(matched: RouteMatch, headers: CIMultiDictProxy[str], parsed: Any) -> bool:
    """Whether authentication would verify a wallet signature (the costly step)."""
    route = matched.route
    if "X-API-Key" in headers:
        return False
    if route.action is not None and (
        "X-Message" in headers
        or "X-Signature" in headers
        or (isinstance(parsed, dict) and ("message" in parsed or "signature" in parsed))
    ):
        return True
    return route.order_signature and isinstance(parsed, dict) and "signature" in parsed


async def charge_ip(request: web.Request, charge: Callable[[str], Awaitable[Quota]]) -> None:
    """Charge the client IP before expensive work; 429 once it is over its limit."""
    state = request[STATE]
    state.quota = await charge(state.client_ip)
    state.ip_charged = True  # a failure that follows is not counted against the IP again


Ending = Callable[[Identity], Awaitable[web.StreamResponse]]


async def guard(
    request: web.Request,
    gw: Gateway,
    matched: RouteMatch,
    headers: CIMultiDictProxy[str],
    parsed: Any,
    ending: Ending,
) -> web.StreamResponse:
    """The steps both modes share; `ending` forwards (proxy) or answers 200 (auth).

    Authenticate (failures charged to the client IP), rate limit the identity's
    scope, authorise (permission, IP allowlist, ownership), then end; the key's
    usage is counted with the status the client gets from walletgate.
    """
    state = request[STATE]
    if carries_signature(matched, headers, parsed):
        await charge_ip(request, gw.quotas.for_signed_ip)
    identity = await authenticate(request, gw, matched, headers, parsed)
    key = identity.key
    note_identity(state, identity)
    try:
        state.quota = await admit(state, gw, identity)
    except ApiError as exc:
        if key is not None and exc.code == ErrorCode.RATE_LIMITED:
            gw.keys.record_rate_limited(key.id, state.client_ip)
        raise
    permission = matched.route.permission
    try:
        await gw.access.authorize(
            matched, identity, parsed, headers, state.client_ip, state.request_id
        )
        response = await ending(identity)
    except REFUSALS as exc:
        if key is not None:
            gw.keys.record_usage(key.id, api_error(exc).status, permission, state.client_ip)
        raise
    if key is not None:
        gw.keys.record_usage(key.id, relayed_status(response), permission, state.client_ip)
    return response


def identity_headers(identity: Identity) -> list[tuple[str, str]]:
    """The trusted identity headers the upstream receives (set by us, never the client)."""
    headers = [("X-Gateway-Auth", identity.method.value)]
    if identity.wallet_display is not None:
        headers.append(("X-Gateway-Wallet", identity.wallet_display))
    if identity.key is not None:
        headers.append(("X-Gateway-Key-Id", identity.key.id))
    return headers


async def authenticate(
    request: web.Request,
    gw: Gateway,
    matched: RouteMatch,
    headers: CIMultiDictProxy[str],
    parsed: Any,
) -> Identity:
    """Identity, or the auth error, counted against the client IP (never the victim)."""

    async def before_key_lookup() -> None:
        # An uncached key costs a store query: the IP's public quota decides first.
        await charge_ip(request, gw.quotas.for_ip)

    try:
        return await gw.authenticator.authenticate(matched, headers, parsed, before_key_lookup)
    except REFUSALS as exc:
        await refuse_unauthenticated(request, gw, api_error(exc))
        raise


async def refuse_unauthenticated(request: web.Request, gw: Gateway, exc: ApiError) -> None:
    """Count a failed authentication against the IP; 429 once the IP is over its limit."""
    if exc.status in (401, 400, 403):
        gw.metrics.count_auth_failure(exc.code.value.lower())
    state = request[STATE]
    if state.ip_charged:
        return
    state.quota = quota = await gw.quotas.peek_ip(state.client_ip)
    if not quota.allowed:
        gw.metrics.count_rate_limited("ip")
        raise rate_limited(quota, gw.quotas.clock()) from exc


async def admit(state: RequestState, gw: Gateway, identity: Identity) -> Quota:
    if identity.key is not None:
        return await gw.quotas.for_key(identity.key.id, identity.key.rate_limit)
    if identity.order_only and state.quota is not None:
        # A public order signature is no claim on its owner's quota: the IP
        # that sent it has paid already (charge_ip before verification).
        return state.quota
    if identity.method == AuthMethod.SIGNATURE and identity.wallet is not None:
        return await gw.quotas.for_wallet(identity.wallet)
    return await gw.quotas.for_ip(state.client_ip)


async def forward(
    request: web.Request,
    gw: Gateway,
    identity: Identity,
    target: str,
    body: bytes | AsyncIterator[bytes] | None,
) -> web.StreamResponse:
    state = request[STATE]
    peer = request.remote or ""
    # Forwarding headers are believed only from a trusted proxy in front of us;
    # every X-Forwarded-For line is part of the one list.
    trusted = bool(gw.trusted_proxies) and is_trusted(peer, gw.trusted_proxies)
    header = gw.settings.listen.forwarded_header
    prior = None
    if trusted:
        prior = ", ".join(forwarded_hops(request.headers.getall(header, ()), header))
    proto = request.headers.get("X-Forwarded-Proto") if trusted else None
    extra = [
        ("X-Forwarded-For", f"{prior}, {peer}" if prior else peer),
        ("X-Forwarded-Proto", proto or request.scheme),
        ("X-Request-ID", state.request_id),
        *identity_headers(identity),
    ]
    headers = request_headers(request.headers, extra)

    def before_relay(response: web.StreamResponse) -> None:
        add_response_headers(state, response, gw.quotas.clock)

    started = time.perf_counter()
    try:
        response = await gw.forwarder.forward(request, target, body, headers, before_relay)
    except UpstreamTimeout:
        gw.metrics.count_upstream_error("timeout")
        raise
    except UpstreamUnavailable:
        gw.metrics.count_upstream_error("unavailable")
        raise
    finally:
        state.upstream_s = elapsed = time.perf_counter() - started
        gw.metrics.observe_upstream(state.route or "unmatched", elapsed)
    failure = upstream_failure(response)
    if failure is not None:  # the body broke off after its head was relayed
        gw.metrics.count_upstream_error(failure)
    return response
