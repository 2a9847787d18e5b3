"""Proxy mode's ending: an admitted request goes upstream.

`gateway.http.admit` has charged, authenticated, limited and authorised the
request; this module only forwards what it admitted (minus the credentials
it carried), counts the key's usage with the status the client gets, and
learns a new order's owner from the upstream's answer.
"""

from __future__ import annotations

import json
import time

from aiohttp import web

from gateway.auth.authenticate import METHOD_NAMES, METHOD_SIGNATURE, Identity
from gateway.http.admit import Admission
from gateway.http.body import Body, without_signed_fields
from gateway.http.context import STATE, Gateway, forwarded_hops, is_trusted
from gateway.http.errors import REFUSALS, api_error
from gateway.http.middleware import add_response_headers
from gateway.upstream.connection import UpstreamTimeout, UpstreamUnavailable
from gateway.upstream.forwarder import relayed_status, request_headers, upstream_failure


async def forward_admitted(
    gw: Gateway, request: web.Request, admission: Admission, target: str
) -> web.StreamResponse:
    """Forward to `target` (origin-form); the key's usage counts the answer's status."""
    route = admission.route
    identity = admission.identity
    body = admission.body
    if identity.method is METHOD_SIGNATURE and route.action is not None:
        body = without_signed_fields(admission.parsed, body)
    key = identity.key
    try:
        response = await forward(request, gw, identity, target, body)
    except REFUSALS as exc:
        if key is not None:
            gw.keys.record_usage(
                key.id, api_error(exc).status, route.permission, request[STATE].client_ip
            )
        raise
    if key is not None:
        gw.keys.record_usage(
            key.id, relayed_status(response), route.permission, request[STATE].client_ip
        )
    if route.order_signature and response.status == 201:
        prime_owner(gw, response)
    return response


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


def identity_headers(identity: Identity) -> list[tuple[str, str]]:
    """The trusted identity headers the upstream receives (set by us, never the client)."""
    headers = [("X-Gateway-Auth", METHOD_NAMES[identity.method])]
    if identity.wallet_display is not None:
        headers.append(("X-Gateway-Wallet", identity.wallet_display))
    if identity.key is not None:
        headers.append(("X-Gateway-Key-Id", identity.key.id))
    return headers


async def forward(
    request: web.Request,
    gw: Gateway,
    identity: Identity,
    target: str,
    body: Body,
) -> web.StreamResponse:
    state = request[STATE]
    peer = request.remote or ""
    # Forwarding headers are believed only from a trusted proxy in front of us;
    # every X-Forwarded-For line is part of the one list.
    trusted = bool(gw.trusted_proxies) and is_trusted(peer, gw.trusted_proxies)
    prior = None
    if trusted:
        header = gw.settings.listen.forwarded_header
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
