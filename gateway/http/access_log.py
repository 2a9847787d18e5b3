"""The access line: one structured log line per request (`[log] access`).

Every field is a value the gateway made or checked (ids, the route template,
the client address, the wallet): never a header, a path with its query, or a
body, so nothing secret can reach it.

It is the one line written per request, so it is written the cheap way:
formatted straight to text on the event loop (no `LogRecord`, no formatter
call per line), collected for `FLUSH_DELAY_S`, and handed to the log thread
as one pre-formatted batch, so the thread wakes and writes once per batch
rather than once per request (each wake-up costs a GIL hand-off). No I/O happens on the event
loop. The text is exactly what `gateway.logs` formatters would write for the
same record (tests compare them). Pending lines are handed over at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from json.encoder import encode_basestring
from typing import Final

from aiohttp import web

from gateway.config import Settings
from gateway.http.context import RequestState
from gateway.logs import PREFORMATTED, text_value

access_log: Final = logging.getLogger("walletgate.access")

# A burst never holds more than this many lines before they are handed over.
MAX_BATCH = 512
# Lines wait this long for company: under load a batch then holds tens of
# lines, and the log thread wakes (and takes the GIL) once for all of them.
FLUSH_DELAY_S = 0.02


def access_enabled(settings: Settings) -> bool:
    wanted = settings.log.access or settings.listen.access_log
    return wanted and access_log.isEnabledFor(logging.INFO)


class UtcSeconds:
    """`2026-01-02T03:04:05.678Z` for now, formatting the date once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        moment = time.time()
        second = int(moment)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((moment - second) * 1000):03d}Z"


def _json_value(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


class AccessLines:
    """Access lines of one process, handed to the log thread once per loop turn."""

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._clock = UtcSeconds()

    def write(
        self,
        state: RequestState,
        method: str,
        route: str,
        status: int,
        duration_s: float,
        json_format: bool,
    ) -> None:
        line = (
            self._json_line(state, method, route, status, duration_s)
            if json_format
            else self._text_line(state, method, route, status, duration_s)
        )
        pending = self._pending
        pending.append(line)
        if len(pending) == 1:
            asyncio.get_running_loop().call_later(FLUSH_DELAY_S, self.flush)
        elif len(pending) >= MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        """Hand every pending line to the log handlers as one record."""
        if not self._pending:
            return
        text = "\n".join(self._pending)
        self._pending = []
        record = access_log.makeRecord(
            access_log.name, logging.INFO, __file__, 0, "", (), None, extra={PREFORMATTED: text}
        )
        access_log.handle(record)

    def _json_line(
        self, state: RequestState, method: str, route: str, status: int, duration_s: float
    ) -> str:
        upstream_ms = _ms(state.upstream_s)
        return (
            f'{{"ts": "{self._clock.now()}", "level": "info", "event": "request", '
            f'"request_id": {encode_basestring(state.request_id)}, '
            f'"method": {encode_basestring(method)}, "route": {encode_basestring(route)}, '
            f'"status": {status}, "duration_ms": {_ms(duration_s)!r}, '
            f'"upstream_ms": {"null" if upstream_ms is None else repr(upstream_ms)}, '
            f'"client_ip": {encode_basestring(state.client_ip)}, '
            f'"auth": {encode_basestring(state.auth)}, "key_id": {_json_value(state.key_id)}, '
            f'"wallet": {_json_value(state.wallet)}, "code": {_json_value(state.error_code)}}}'
        )

    def _text_line(
        self, state: RequestState, method: str, route: str, status: int, duration_s: float
    ) -> str:
        return (
            f"{self._clock.now()} INFO request request_id={text_value(state.request_id)} "
            f"method={text_value(method)} route={text_value(route)} status={status} "
            f"duration_ms={_ms(duration_s)} upstream_ms={text_value(_ms(state.upstream_s))} "
            f"client_ip={text_value(state.client_ip)} auth={text_value(state.auth)} "
            f"key_id={text_value(state.key_id)} wallet={text_value(state.wallet)} "
            f"code={text_value(state.error_code)}"
        )


ACCESS_LINES = web.AppKey("access_lines", AccessLines)


async def access_lines_context(app: web.Application) -> AsyncIterator[None]:
    """The app's access lines; whatever is pending is handed over at shutdown."""
    lines = app[ACCESS_LINES] = AccessLines()
    yield
    lines.flush()
