"""An AppRunner whose connections answer HTTP-level garbage with the JSON error body.

aiohttp refuses some requests in its parser, before any middleware runs
(header lines over the size limit, undecodable bytes in the request line);
its default answer is text/plain and an ERROR log with a traceback. Bad
input is routine for a public gateway: it gets our JSON error body and a
debug-level log line instead.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from gateway.errors import ErrorCode, error_body

log = logging.getLogger("walletgate.http")
SERVER = "walletgate"


class JsonErrorRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            answer = super().handle_error(request, status, exc, message)
            answer.headers["Server"] = SERVER
            return answer
        # Only the exception's class: its text quotes the offending line, which
        # may hold an API key, a signature or a signed message.
        log.debug(
            "refused malformed request from %s: %s (%s)",
            request.remote,
            type(exc).__name__ if exc is not None else "error",
            status,
        )
        body = error_body(ErrorCode.BAD_REQUEST, "Invalid request", {"reason": "malformed HTTP"})
        response = web.Response(
            status=status,
            text=json.dumps(body),
            content_type="application/json",
            # Answered before the app's signals run: no aiohttp or Python version here either.
            headers={"Server": SERVER},
        )
        response.force_close()
        return response


class JsonErrorServer(Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    async def _make_server(self) -> Server:
        server = await super()._make_server()
        # Same state, our handler class for every new connection.
        server.__class__ = JsonErrorServer
        return server
