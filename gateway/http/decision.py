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
made under that id is kept for a short while and `GET /_walletgate/denial`
returns it once, exactly as decided (nothing is counted a second time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web
from cachetools import TTLCache
from multidict import CIMultiDict

from gateway.errors import ApiError, ErrorCode, bad_request
from gateway.http.admit import Admission, admit
from gateway.http.context import GATEWAY, STATE, Gateway, peer_is_trusted
from gateway.http.pipeline import identity_headers
from gateway.http.target import request_target

AUTH_PATH = "/_walletgate/auth"
EXT_AUTHZ_PREFIX = "/_walletgate/ext_authz"
DENIAL_PATH = "/_walletgate/denial"
DECISION_ID_HEADER = "X-Walletgate-Decision-Id"
# Long enough for an ingress to come back for the body, short enough to stay small.
DENIAL_TTL_S = 30.0
DENIAL_CACHE_SIZE = 10_000

_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
_DECISION_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")
_MAX_URI = 8192


@dataclass(frozen=True, slots=True)
class Denial:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


class DenialCache:
    """Denials by decision id, each returned once, forgotten after `DENIAL_TTL_S`."""

    def __init__(self) -> None:
        self._kept: TTLCache[str, Denial] = TTLCache(DENIAL_CACHE_SIZE, DENIAL_TTL_S)

    def keep(self, decision_id: str, denial: Denial) -> None:
        self._kept[decision_id] = denial

    def take(self, decision_id: str) -> Denial | None:
        return self._kept.pop(decision_id, None)


DENIALS = web.AppKey("denials", DenialCache)


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
    return request_target(uri).path


def original_method(method: str | None) -> str:
    if method is None or not _METHOD.fullmatch(method):
        raise decision_error("the original method is missing or malformed")
    return method


def allow(gw: Gateway, admission: Admission) -> web.StreamResponse:
    """The decision's ending: 200 with the identity for the ingress to forward.

    The rate-limit headers and X-Request-ID are added by the middleware, as to
    every answer; the key's usage counts the request the ingress will forward.
    """
    key = admission.identity.key
    if key is not None:
        gw.keys.record_usage(key.id, 200, admission.route.permission)
    return web.Response(status=200, headers=identity_headers(admission.identity))


async def decide(request: web.Request, method: str | None, uri: str | None) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    require_trusted(request, gw)
    decision_id = request.headers.get(DECISION_ID_HEADER)
    if decision_id is not None and _DECISION_ID.fullmatch(decision_id):
        denials = request.app[DENIALS]
        request[STATE].on_answer = lambda answer: remember_denial(denials, decision_id, answer)
    if uri is None:
        raise decision_error("the original URI is missing")
    matched = gw.routes.match(original_method(method), original_path(uri))
    route = matched.route
    request[STATE].route = route.template
    if route.order_signature or not route.forwarded:
        # Its credential is the body (or it is walletgate's own), which a decision never sees.
        raise decision_error("this route is authenticated by its body: route it to walletgate")
    return allow(gw, await admit(request, matched, with_body=False))


async def forward_auth(request: web.Request) -> web.StreamResponse:
    """nginx auth_request, Traefik forwardAuth, Caddy forward_auth."""
    headers = request.headers
    nginx = "X-Original-URI" in headers or "X-Original-Method" in headers
    others = "X-Forwarded-Uri" in headers or "X-Forwarded-Method" in headers
    if nginx and others:
        # An ingress sets one convention and removes the other; a request with
        # both carries one a client chose (docs/ingress.md): believe neither.
        raise decision_error("the original request is named twice")
    if nginx:
        return await decide(
            request, headers.get("X-Original-Method"), headers.get("X-Original-URI")
        )
    return await decide(request, headers.get("X-Forwarded-Method"), headers.get("X-Forwarded-Uri"))


async def ext_authz(request: web.Request) -> web.StreamResponse:
    """Envoy HTTP ext_authz: the original path follows the prefix, the method is its own."""
    uri = request.raw_path[len(EXT_AUTHZ_PREFIX) :] or "/"
    return await decide(request, request.method, uri)


async def denial(request: web.Request) -> web.StreamResponse:
    """The denial a decision made under this id, once (nginx's error_page asks)."""
    require_trusted(request, request.app[GATEWAY])
    decision_id = request.headers.get(DECISION_ID_HEADER, "")
    kept = request.app[DENIALS].take(decision_id) if _DECISION_ID.fullmatch(decision_id) else None
    if kept is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Not found", {"reason": "no such decision"})
    headers = CIMultiDict(kept.headers)
    request[STATE].request_id = headers.get("X-Request-ID", request[STATE].request_id)
    return web.Response(status=kept.status, body=kept.body, headers=headers)


def remember_denial(denials: DenialCache, decision_id: str, answer: web.StreamResponse) -> None:
    """Keep a refused decision's answer for `denial` (called once its headers are final)."""
    if answer.status < 300 or not isinstance(answer, web.Response):
        return
    body = answer.body if isinstance(answer.body, bytes) else b""
    headers = tuple((k, v) for k, v in answer.headers.items() if k.lower() != "content-length")
    denials.keep(decision_id, Denial(answer.status, body, headers))


def add_decision_routes(app: web.Application) -> None:
    """The decision endpoints of auth mode, and the denial store nginx reads back."""
    app[DENIALS] = DenialCache()
    app.router.add_route("*", AUTH_PATH, forward_auth)
    app.router.add_get(DENIAL_PATH, denial, allow_head=False)
    app.router.add_route("*", EXT_AUTHZ_PREFIX + "/{original:.*}", ext_authz)
