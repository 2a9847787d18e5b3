"""The access line: one structured log line per request (`[log] access`).

Written from the middleware after the answer is known, through the queue
handler (no I/O on the event loop). Every field is a value the gateway made
or checked (ids, the route template, the client address, the wallet): never
a header, a path with its query, or a body, so nothing secret can reach it.
"""

from __future__ import annotations

import logging
from typing import Final

from gateway.config import Settings
from gateway.http.context import RequestState
from gateway.logs import EVENT, FIELDS

access_log: Final = logging.getLogger("walletgate.access")


def access_enabled(settings: Settings) -> bool:
    wanted = settings.log.access or settings.listen.access_log
    return wanted and access_log.isEnabledFor(logging.INFO)


def write_access_line(
    state: RequestState, method: str, route: str, status: int, duration_s: float
) -> None:
    upstream_s = state.upstream_s
    fields = {
        "request_id": state.request_id,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(duration_s * 1000, 3),
        "upstream_ms": None if upstream_s is None else round(upstream_s * 1000, 3),
        "client_ip": state.client_ip,
        "auth": state.auth,
        "key_id": state.key_id,
        "wallet": state.wallet,
        "code": state.error_code,
    }
    access_log.info("", extra={EVENT: "request", FIELDS: fields})
