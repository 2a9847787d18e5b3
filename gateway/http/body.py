"""Request bodies: read whole or streamed, bounded, parsed once when admission needs them.

A forwarded body is read into memory only when it is small or when its JSON
is a credential (an order signature, a signed message); larger bodies stream
through and never sit in memory whole. Key management reads its small JSON
body whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gateway.auth.authenticate import wants_body
from gateway.auth.routes import Route
from gateway.errors import ApiError, ErrorCode, bad_request
from gateway.http.target import refuse_encoded_body, refuse_unforwardable_body
from gateway.upstream.forwarder import BUFFER_LIMIT

Body = bytes | AsyncIterator[bytes] | None


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


async def take_body(request: web.Request, route: Route, limit: int) -> tuple[Body, Any]:
    """(the body as it will be forwarded or served, its JSON when admission reads it).

    Called only for a request that has a body.
    """
    if not route.forwarded:
        raw = await read_body(request, limit)
        return raw, parse_json_body(raw)
    refuse_unforwardable_body(request.method, True)
    parse = wants_body(route, request.headers)
    if parse:
        refuse_encoded_body(request.headers)
    declared = request.content_length
    if parse or (declared is not None and declared <= BUFFER_LIMIT):
        raw = await read_body(request, limit)
        return raw, parse_json_body(raw, unique_keys=route.order_signature) if parse else None
    return stream_body(request, limit), None


SIGNED_FIELDS = frozenset({"message", "signature", "walletAddress", "publicKey"})


def without_signed_fields(parsed: Any, body: Body) -> Body:
    """A body that carried the signed message, minus it: credentials stay here."""
    if not isinstance(parsed, dict) or not SIGNED_FIELDS & parsed.keys():
        return body
    rest = {name: value for name, value in parsed.items() if name not in SIGNED_FIELDS}
    return json.dumps(rest).encode() if rest else None
