"""The forwarded-route pipeline: route -> authenticate -> limit -> authorise -> forward.

Every step is a call into its own module; this handler only sequences them
and records the outcome (usage counts, owner cache priming).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway.auth.authenticate import AuthMethod, Identity
from gateway.auth.policy import RouteMatch
from gateway.errors import ApiError, ErrorCode, bad_request
from gateway.http.context import (
    AUTH_LABEL,
    CLIENT_IP,
    GATEWAY,
    KEY_ID,
    QUOTA,
    REQUEST_ID,
    ROUTE_LABEL,
    UPSTREAM_S,
    WALLET,
    Gateway,
)
from gateway.ratelimit import Quota
from gateway.ratelimit.scopes import rate_limited
from gateway.upstream.forwarder import BUFFER_LIMIT, request_headers


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
    matched = gw.routes.match(request.method, request.path)
    route = matched.route
    request[ROUTE_LABEL] = route.template
    limit = gw.settings.limits.max_body_bytes
    parse = wants_parsed_body(matched, request)
    body: bytes | AsyncIterator[bytes] | None = None
    parsed: Any = None
    if request.body_exists:
        declared = request.content_length
        if parse or (declared is not None and declared <= BUFFER_LIMIT):
            body = await read_body(request, limit)
            parsed = parse_json_body(body, unique_keys=route.order_signature) if parse else None
        else:
            body = stream_body(request, limit)

    identity = await authenticate(request, gw, matched, parsed)
    request[AUTH_LABEL] = identity.method.value
    key = identity.key
    note_identity(request, identity)
    try:
        request[QUOTA] = await admit(gw, identity, request[CLIENT_IP])
    except ApiError as exc:
        if key is not None and exc.code == ErrorCode.RATE_LIMITED:
            gw.keys.record_rate_limited(key.id)
        raise
    try:
        await gw.access.authorize(
            matched, identity, parsed, request.headers, request[CLIENT_IP], request[REQUEST_ID]
        )
        if identity.method == AuthMethod.SIGNATURE and route.action is not None:
            body = without_signed_fields(parsed, body)
        response = await forward(request, gw, identity, body)
    except ApiError as exc:
        if key is not None:
            gw.keys.record_usage(key.id, exc.status, route.permission)
        raise
    if key is not None:
        gw.keys.record_usage(key.id, response.status, route.permission)
    if route.order_signature and response.status == 201 and isinstance(parsed, dict):
        gw.owners.prime(str(parsed.get("uuid")), str(parsed.get("owner")))
    return response


def note_identity(request: web.Request, identity: Identity) -> None:
    """Who asked, for the access line."""
    if identity.key is not None:
        request[KEY_ID] = identity.key.id
    if identity.wallet_display is not None:
        request[WALLET] = identity.wallet_display


async def authenticate(
    request: web.Request, gw: Gateway, matched: RouteMatch, parsed: Any
) -> Identity:
    """Identity, or the auth error, counted against the client IP (never the victim)."""
    try:
        return await gw.authenticator.authenticate(matched, request.headers, parsed)
    except ApiError as exc:
        await refuse_unauthenticated(request, gw, exc)
        raise


async def refuse_unauthenticated(request: web.Request, gw: Gateway, exc: ApiError) -> None:
    """Count a failed authentication against the IP; 429 once the IP is over its limit."""
    if exc.status in (401, 400, 403):
        gw.metrics.count_auth_failure(exc.code.value.lower())
    quota = await gw.quotas.peek_ip(request[CLIENT_IP])
    request[QUOTA] = quota
    if not quota.allowed:
        gw.metrics.count_rate_limited("ip")
        raise rate_limited(quota, gw.quotas.clock()) from exc


async def admit(gw: Gateway, identity: Identity, ip: str) -> Quota:
    if identity.key is not None:
        return await gw.quotas.for_key(identity.key.id, identity.key.rate_limit)
    if identity.method == AuthMethod.SIGNATURE and identity.wallet is not None:
        return await gw.quotas.for_wallet(identity.wallet)
    return await gw.quotas.for_ip(ip)


async def forward(
    request: web.Request,
    gw: Gateway,
    identity: Identity,
    body: bytes | AsyncIterator[bytes] | None,
) -> web.StreamResponse:
    peer = request.remote or ""
    # Forwarding headers are believed only from a trusted proxy in front of us.
    trusted = peer != request[CLIENT_IP]
    prior = request.headers.get("X-Forwarded-For") if trusted else None
    proto = request.headers.get("X-Forwarded-Proto") if trusted else None
    extra = {
        "X-Forwarded-For": f"{prior}, {peer}" if prior else peer,
        "X-Forwarded-Proto": proto or request.scheme,
        "X-Request-ID": request[REQUEST_ID],
        "X-Gateway-Auth": identity.method.value,
    }
    if identity.wallet_display is not None:
        extra["X-Gateway-Wallet"] = identity.wallet_display
    if identity.key is not None:
        extra["X-Gateway-Key-Id"] = identity.key.id
    headers = request_headers(request.headers, extra)
    started = time.perf_counter()
    try:
        return await gw.forwarder.forward(request, body, headers)
    except ApiError as exc:
        if exc.code in (ErrorCode.UPSTREAM_UNAVAILABLE, ErrorCode.UPSTREAM_TIMEOUT):
            kind = "timeout" if exc.code == ErrorCode.UPSTREAM_TIMEOUT else "unavailable"
            gw.metrics.count_upstream_error(kind)
        raise
    finally:
        request[UPSTREAM_S] = elapsed = time.perf_counter() - started
        gw.metrics.observe_upstream(request[ROUTE_LABEL], elapsed)
