"""The bundled order backend: aiohttp routes over the SQLite order store.

It stands in for an exchange's order API. It trusts whoever
reaches it; the gateway in front does authentication. It never imports the
gateway package.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from backend.errors import (
    BackendError,
    Code,
    error_body,
    from_http_exception,
    order_exists,
    order_not_found,
    order_not_open,
    utc_now_iso,
)
from backend.orders import clean_text, is_order_uuid, parse_list_query, parse_new_order, to_epoch_us
from backend.store import OrderStore, Refusal

# Orders are small; anything near this is not an order.
MAX_BODY_BYTES = 64 * 1024
WALLET_HEADER = "X-Gateway-Wallet"

STORE = web.AppKey("order_store", OrderStore)
_log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place that turns failures into the uniform error body."""
    try:
        return await handler(request)
    except BackendError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return from_http_exception(exc)
    except Exception:
        _log.exception("unhandled error on %s %s", request.method, request.path)
        body = error_body(Code.INTERNAL_ERROR, "Internal error")
        return web.json_response(body, status=500)


def _store(request: web.Request) -> OrderStore:
    return request.app[STORE]


def _path_uuid(request: web.Request) -> str:
    """The order uuid from the path; one that could never exist is simply not found."""
    uuid = request.match_info["uuid"]
    if not is_order_uuid(uuid):
        raise order_not_found(uuid[:128])
    return uuid


def _acting_wallet(request: web.Request) -> str | None:
    return clean_text(request.headers.get(WALLET_HEADER))


def _now() -> tuple[int, str]:
    moment = datetime.now(UTC)
    return to_epoch_us(moment), utc_now_iso(moment)


async def create_order(request: web.Request) -> web.Response:
    order = parse_new_order(await request.read())
    created = await _store(request).create(order, utc_now_iso())
    if created is None:
        raise order_exists(order.uuid)
    return web.json_response({"status": "success", "data": created}, status=201)


async def get_order(request: web.Request) -> web.Response:
    uuid = _path_uuid(request)
    order = await _store(request).get(uuid)
    if order is None:
        raise order_not_found(uuid)
    return web.json_response({"status": "success", "data": order})


async def list_orders(request: web.Request) -> web.Response:
    query = parse_list_query(request.query)
    orders, next_cursor = await _store(request).list(query)
    return web.json_response({"status": "success", "data": orders, "nextCursor": next_cursor})


def _raise_refusal(uuid: str, refusal: Refusal) -> None:
    if refusal is Refusal.NOT_FOUND:
        raise order_not_found(uuid)
    raise order_not_open(uuid, refusal.value)


async def execute_order(request: web.Request) -> web.Response:
    uuid = _path_uuid(request)
    now_us, now_iso = _now()
    # Stand-in for the settlement transaction the real exchange would submit.
    txid = "0x" + secrets.token_hex(32)
    refusal = await _store(request).execute(uuid, now_us, now_iso, txid, _acting_wallet(request))
    if refusal is not None:
        _raise_refusal(uuid, refusal)
    return web.json_response({"status": "success", "txid": txid})


async def cancel_order(request: web.Request) -> web.Response:
    uuid = _path_uuid(request)
    now_us, now_iso = _now()
    refusal = await _store(request).cancel(uuid, now_us, now_iso, _acting_wallet(request))
    if refusal is not None:
        _raise_refusal(uuid, refusal)
    return web.json_response({"status": "success"})


def _store_context(database: str) -> Callable[[web.Application], AsyncIterator[None]]:
    async def open_store(app: web.Application) -> AsyncIterator[None]:
        store = await OrderStore.open(database)
        app[STORE] = store
        try:
            yield
        finally:
            await store.close()

    return open_store


def create_app(database: str) -> web.Application:
    """The backend application over the SQLite file `database` (created if missing)."""
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app.cleanup_ctx.append(_store_context(database))
    app.router.add_post("/api/v1/orders/new", create_order)
    app.router.add_get("/api/v1/orders", list_orders)
    app.router.add_get("/api/v1/orders/{uuid}", get_order)
    app.router.add_post("/api/v1/orders/{uuid}/execute", execute_order)
    app.router.add_patch("/api/v1/orders/{uuid}/cancel", cancel_order)
    return app
