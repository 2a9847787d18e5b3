"""Decision endpoints for an existing ingress (auth mode, docs/ingress.md).

`/_walletgate/auth` answers nginx `auth_request` (original request in
`X-Original-Method` / `X-Original-URI`) and Traefik `forwardAuth` / Caddy
`forward_auth` (`X-Forwarded-Method` / `X-Forwarded-Uri`);
`/_walletgate/ext_authz/<original path>` answers Envoy's HTTP `ext_authz`
(original method, path after the prefix). The decision is `admit`, the one
door proxy mode passes too, with a different ending: allow is a 200 carrying
the identity and rate-limit headers, deny is the very status, JSON body and
headers proxy mode would send.

These endpoints name a request on someone else's behalf, so they answer the
peers in `listen.trusted_proxies` only (403 `UNTRUSTED_PROXY` otherwise).

nginx's `auth_request` passes only 2xx/401/403 and never the body. Its
configuration therefore sends a random `X-Walletgate-Decision-Id`; a denial
made under that id travels in the decision's own answer and nginx hands it
back to `GET /_walletgate/denial` (gateway/http/denial.py: no state kept).
"""

from __future__ import annotations

import re
from functools import partial

from aiohttp import web

from gateway.errors import ApiError, ErrorCode, bad_request
from gateway.http.admit import Admission, admit
from gateway.http.context import GATEWAY, STATE, Gateway, peer_is_trusted
from gateway.http.denial import (
    DECISION_ID_HEADER,
    DENIAL_HEADER,
    DENIAL_PATH,
    carry_denial,
    decision_id_of,
    denial_response,
    read_denial,
)
from gateway.http.ingress_headers import REMOVABLE_NAMES, RemovableNames
from gateway.http.middleware import framed
from gateway.http.pipeline import identity_headers
from gateway.http.target import target_path

AUTH_PATH = "/_walletgate/auth"
EXT_AUTHZ_PREFIX = "/_walletgate/ext_authz"

_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
# Methods taken as they are; any other must be a well-formed token (`_METHOD`).
_COMMON_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MAX_URI = 8192


def decision_error(reason: str) -> ApiError:
    return bad_request("Invalid decision request", reason=reason)


def require_trusted(request: web.Request, gw: Gateway) -> None:
    if not peer_is_trusted(request, gw.trusted_proxies):
        raise ApiError(
            ErrorCode.UNTRUSTED_PROXY,
            "Decision requests are answered for trusted proxies only",
            {"setting": "listen.trusted_proxies"},
        )


def original_path(uri: str) -> str:
    """The path of an original request-target, held to the rules of a forwarded one:
    a decision must never allow a target the upstream would read differently."""
    if len(uri) > _MAX_URI:
        raise decision_error("the original URI is too long")
    return target_path(uri)


def original_method(method: str | None) -> str:
    if method is None or (method not in _COMMON_METHODS and not _METHOD.fullmatch(method)):
        raise decision_error("the original method is missing or malformed")
    return method


def allow(request: web.Request, gw: Gateway, admission: Admission) -> web.StreamResponse:
    """The decision's ending: 200 with the identity for the ingress to forward.

    The rate-limit headers and X-Request-ID are added by the frame (`framed`), as to
    every answer; the key's usage counts the request the ingress will forward.
    The answer has no body: a bare `StreamResponse` with `Content-Length: 0`
    sends the same bytes as a `web.Response` without its body machinery.
    """
    key = admission.identity.key
    if key is not None:
        gw.keys.record_usage(key.id, 200, admission.route.permission, request[STATE].client_ip)
    answer = web.StreamResponse(status=200, headers=identity_headers(admission.identity))
    answer.content_length = 0
    return answer


async def decide(
    request: web.Request, method: str | None, uri: str | None, *, names_only: bool = False
) -> web.StreamResponse:
    """`names_only`: the ingress removes headers by name only (nginx, Envoy)."""
    app = request.app
    gw = app[GATEWAY]
    require_trusted(request, gw)
    state = request[STATE]
    headers = request.headers
    sent_id = headers.get(DECISION_ID_HEADER)
    if sent_id is not None:
        # Checked by `carry_denial` when there is a denial to carry: an allow never reads it.
        state.on_answer = partial(carry_denial, sent_id)
    if names_only:
        app[REMOVABLE_NAMES].refuse_unremovable(headers.keys())
    if uri is None:
        raise decision_error("the original URI is missing")
    matched = gw.routes.match(original_method(method), original_path(uri))
    route = matched.route
    state.route = route.template
    if route.order_signature or not route.forwarded:
        # Its credential is the body (or it is walletgate's own), which a decision never sees.
        raise decision_error("this route is authenticated by its body: route it to walletgate")
    return allow(request, gw, await admit(gw, request, matched, with_body=False))


async def forward_auth(request: web.Request) -> web.StreamResponse:
    """nginx auth_request, Traefik forwardAuth, Caddy forward_auth."""
    headers = request.headers
    method, uri = headers.get("X-Original-Method"), headers.get("X-Original-URI")
    nginx = method is not None or uri is not None
    others = "X-Forwarded-Uri" in headers or "X-Forwarded-Method" in headers
    if nginx and others:
        # An ingress sets one convention and removes the other; a request with
        # both carries one a client chose (docs/ingress.md): believe neither.
        raise decision_error("the original request is named twice")
    if nginx:
        return await decide(request, method, uri, names_only=True)
    return await decide(request, headers.get("X-Forwarded-Method"), headers.get("X-Forwarded-Uri"))


async def ext_authz(request: web.Request) -> web.StreamResponse:
    """Envoy HTTP ext_authz: the original path follows the prefix, the method is its own."""
    uri = request.raw_path[len(EXT_AUTHZ_PREFIX) :] or "/"
    return await decide(request, request.method, uri, names_only=True)


async def denial(request: web.Request) -> web.StreamResponse:
    """The denial nginx hands back from its decision (gateway/http/denial.py)."""
    require_trusted(request, request.app[GATEWAY])
    decision_id = decision_id_of(request.headers.get(DECISION_ID_HEADER))
    kept = read_denial(request.headers.get(DENIAL_HEADER), decision_id)
    request[STATE].request_id = dict(kept.headers).get("X-Request-ID", request[STATE].request_id)
    return denial_response(kept)


def add_decision_routes(app: web.Application) -> None:
    """The decision endpoints of auth mode, and the denial nginx hands back."""
    app[REMOVABLE_NAMES] = RemovableNames()
    app.router.add_route("*", AUTH_PATH, framed(forward_auth))
    app.router.add_get(DENIAL_PATH, framed(denial), allow_head=False)
    app.router.add_route("*", EXT_AUTHZ_PREFIX + "/{original:.*}", framed(ext_authz))
