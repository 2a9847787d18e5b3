"""The access line: one structured log line per request (`[log] access`).

Written from the middleware after the answer is known, through the queue
handler (no I/O on the event loop). Every field is a value the gateway made
or checked (ids, the route template, the client address, the wallet): never
a header, a path with its query, or a body, so nothing secret can reach it.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

from gateway.http.context import (
    AUTH_LABEL,
    CLIENT_IP,
    ERROR_CODE,
    GATEWAY,
    KEY_ID,
    REQUEST_ID,
    UPSTREAM_S,
    WALLET,
)
from gateway.logs import EVENT, FIELDS

access_log: Final = logging.getLogger("walletgate.access")


def access_enabled(app: web.Application) -> bool:
    settings = app[GATEWAY].settings
    return (settings.log.access or settings.listen.access_log) and access_log.isEnabledFor(
        logging.INFO
    )


def write_access_line(
    request: web.Request, method: str, route: str, status: int, duration_s: float
) -> None:
    upstream_s = request.get(UPSTREAM_S)
    fields = {
        "request_id": request.get(REQUEST_ID),
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(duration_s * 1000, 3),
        "upstream_ms": None if upstream_s is None else round(upstream_s * 1000, 3),
        "client_ip": request.get(CLIENT_IP),
        "auth": request.get(AUTH_LABEL, "none"),
        "key_id": request.get(KEY_ID),
        "wallet": request.get(WALLET),
        "code": request.get(ERROR_CODE),
    }
    access_log.info("", extra={EVENT: "request", FIELDS: fields})
