"""The operator API: `/admin/v1/` on the admin listener (docs/operations.md).

Each route names the token scope it needs in `OPERATOR_ROUTES`; one wrapper
admits the call through `gateway.auth.operator.admit_operator` and hands the
ending an `OperatorAdmission`. Without `[[admin.tokens]]` every path under
`/admin/v1/` answers 404, as if the API did not exist.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from gateway.auth.operator import OperatorAdmission, admit_operator
from gateway.errors import ApiError, ErrorCode, bad_request
from gateway.http.context import GATEWAY, Gateway
from gateway.http.errors import api_error
from gateway.http.operator_openapi import operator_document
from gateway.keys.operator import KeyAdmin
from gateway.operator_config import TokenScope
from gateway.wallets import parse_wallet_address

from . import operator_fields as fields
from .operator_views import key_views, tier_view, top_view, wallet_view

log = logging.getLogger("walletgate.operator")

PREFIX: Final = "/admin/v1"
MAX_BODY_BYTES: Final = 16384
_ADMISSION = web.RequestKey("operator_admission", OperatorAdmission)

Ending = Callable[[web.Request, Gateway, OperatorAdmission], Awaitable[web.Response]]


@dataclass(frozen=True, slots=True)
class OperatorRoute:
    method: str
    path: str  # under PREFIX
    scope: TokenScope
    ending: Ending
    operation_id: str


def _admin(gw: Gateway) -> KeyAdmin:
    return KeyAdmin(gw.keys)


async def _json_body(request: web.Request) -> Any:
    if not request.body_exists:
        return None
    raw = bytearray()
    async for chunk in request.content.iter_any():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, "Request body too large")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_request() from None


def _wallet(gw: Gateway, text: str | None) -> str | None:
    if text is None:
        return None
    return parse_wallet_address(text, gw.settings.signatures.chains).canonical


# -- endings -------------------------------------------------------------------------


async def list_keys(request: web.Request, gw: Gateway, _: OperatorAdmission) -> web.Response:
    query = request.query
    fields.only(query, ("wallet", "status", "limit", "cursor"))
    wallet, status = _wallet(gw, query.get("wallet")), fields.status(query)
    limit, after = fields.page_limit(query, 50), fields.read_key_cursor(query)
    keys, mark = await _admin(gw).page(wallet, status, after, limit)
    listed = await key_views(gw, keys)
    cursor = None if mark is None else fields.key_cursor(mark)
    return web.json_response({"apiKeys": listed, "nextCursor": cursor})


async def get_key(request: web.Request, gw: Gateway, _: OperatorAdmission) -> web.Response:
    fields.only(request.query, ())
    key = await _admin(gw).get(fields.key_id(request.match_info["keyId"]))
    return web.json_response((await key_views(gw, [key]))[0])


async def patch_key(request: web.Request, gw: Gateway, op: OperatorAdmission) -> web.Response:
    admin = _admin(gw)
    key_id = fields.key_id(request.match_info["keyId"])
    fields.only(request.query, ())
    body = await _json_body(request)
    key = await admin.get(key_id)
    change = fields.key_change(body, gw.minute_ceiling(key.wallet), gw.keys.now())
    changed = await admin.change(key, change, op.origin())
    return web.json_response((await key_views(gw, [changed]))[0])


async def delete_key(request: web.Request, gw: Gateway, op: OperatorAdmission) -> web.Response:
    key_id = fields.key_id(request.match_info["keyId"])
    fields.only(request.query, ("reason",))
    body = await _json_body(request)
    if body is not None and not isinstance(body, dict):
        raise fields.bad("body", "Request body must be a JSON object")
    if body:
        fields.only(body, ("reason",))
    reason = fields.reason((body or {}).get("reason", request.query.get("reason")))
    key = await _admin(gw).revoke(key_id, reason, op.origin())
    return web.json_response((await key_views(gw, [key]))[0])


async def list_events(request: web.Request, gw: Gateway, _: OperatorAdmission) -> web.Response:
    query = request.query
    fields.only(query, ("wallet", "keyId", "kind", "since", "limit", "cursor"))
    key_id = query.get("keyId")
    if key_id is not None:
        await _admin(gw).get(fields.key_id(key_id))  # an unknown key is 404, not []
    since = query.get("since")
    limit = fields.page_limit(query, 50)
    events = await gw.store.list_events(
        key_id=key_id,
        wallet=_wallet(gw, query.get("wallet")),
        since=None if since is None else fields.moment(since, "since"),
        before_seq=fields.read_event_cursor(query),
        limit=limit + 1,
        kind=fields.event_kind(query),
    )
    page = events[:limit]
    more = len(events) > limit and page
    return web.json_response(
        {"events": [e.to_json() for e in page], "nextCursor": str(page[-1].seq) if more else None}
    )


async def get_wallet(request: web.Request, gw: Gateway, _: OperatorAdmission) -> web.Response:
    fields.only(request.query, ())
    wallet = parse_wallet_address(request.match_info["address"], gw.settings.signatures.chains)
    keys = await gw.keys.list_for(wallet.canonical)  # every key, newest first
    return web.json_response(wallet_view(gw, wallet, keys, await key_views(gw, keys)))


async def put_tier(request: web.Request, gw: Gateway, op: OperatorAdmission) -> web.Response:
    fields.only(request.query, ())
    wallet = parse_wallet_address(request.match_info["address"], gw.settings.signatures.chains)
    body = await _json_body(request)
    name = fields.tier_name(body, tuple(t.name for t in gw.settings.tiers))
    reason = fields.reason(body.get("reason"))
    previous = await _admin(gw).set_tier(wallet.canonical, name, op.origin(), reason)
    return web.json_response(
        {"walletAddress": wallet.display, "previousTier": previous} | tier_view(gw, name)
    )


async def usage_top(request: web.Request, gw: Gateway, _: OperatorAdmission) -> web.Response:
    query = request.query
    fields.only(query, ("window", "by", "limit"))
    span, by, limit = fields.window(query), fields.top_by(query), fields.page_limit(query, 10)
    totals = await _admin(gw).top(span, by, limit)
    return web.json_response(top_view(gw, query.get("window", "1h"), by, totals))


OPERATOR_ROUTES: Final = (
    OperatorRoute("GET", "/keys", TokenScope.READ, list_keys, "listKeys"),
    OperatorRoute("GET", "/keys/{keyId}", TokenScope.READ, get_key, "getKey"),
    OperatorRoute("PATCH", "/keys/{keyId}", TokenScope.WRITE, patch_key, "updateKey"),
    OperatorRoute("DELETE", "/keys/{keyId}", TokenScope.WRITE, delete_key, "revokeKey"),
    OperatorRoute("GET", "/events", TokenScope.READ, list_events, "listEvents"),
    OperatorRoute("GET", "/wallets/{address}", TokenScope.READ, get_wallet, "getWallet"),
    OperatorRoute("PUT", "/wallets/{address}/tier", TokenScope.WRITE, put_tier, "setWalletTier"),
    OperatorRoute("GET", "/usage/top", TokenScope.READ, usage_top, "topKeys"),
)


# -- the door ------------------------------------------------------------------------


def _door(route: OperatorRoute) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        gw = request.app[GATEWAY]
        admission = await admit_operator(
            request.headers.get("Authorization"),
            route.scope,
            tokens=gw.operator_tokens,
            quotas=gw.quotas,
            client_ip=request.remote or "",
        )
        request[_ADMISSION] = admission
        return await route.ending(request, gw, admission)

    handler.__name__ = route.operation_id
    return handler


@web.middleware
async def operator_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """404 for everything when no token is configured; every error as the error body;
    the token's rate-limit headers on every answer it was charged for."""
    gw = request.app[GATEWAY]
    try:
        if not gw.operator_tokens:
            raise ApiError(ErrorCode.NOT_FOUND, "Not found")
        response = await handler(request)
    except Exception as exc:
        error = api_error(exc)
        if error.code == ErrorCode.INTERNAL_ERROR and not isinstance(exc, web.HTTPException):
            log.exception("unhandled error in operator API %s", request.path)
        response = web.json_response(error.body(), status=error.status, headers=error.headers)
    admission = request.get(_ADMISSION)
    if admission is not None and "X-RateLimit-Limit" not in response.headers:
        response.headers.update(admission.quota.headers(gw.quotas.clock()))
    return response


async def serve_operator_openapi(request: web.Request) -> web.Response:
    """The API's own description; it holds no secret, so it needs no token."""
    server = f"{request.url.origin()}{PREFIX}"
    return web.json_response(operator_document(OPERATOR_ROUTES, server))


def build_operator_app(gw: Gateway) -> web.Application:
    """The `/admin/v1/` sub-application (mounted by the admin listener)."""
    app = web.Application(middlewares=[operator_errors])
    app[GATEWAY] = gw
    app.router.add_get("/openapi.json", serve_operator_openapi, allow_head=False)
    for route in OPERATOR_ROUTES:
        app.router.add_route(route.method, route.path, _door(route))
    return app
