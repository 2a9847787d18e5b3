"""A denial that travels with its decision, for nginx's `auth_request`.

`auth_request` passes only 2xx, 401 and 403 to the client, and never the
body. So a decision asked with an `X-Walletgate-Decision-Id` (nginx's own
random `$request_id`) carries its whole denial (status, JSON body, headers)
in `X-Walletgate-Denial`; nginx captures it with `auth_request_set` and, from
its `error_page` location, hands it to `GET /_walletgate/denial`, which
answers it exactly as decided. Nothing is kept between the two requests, so
any worker of any walletgate replica serves any denial, and nothing is
decided or counted a second time.

Why a client cannot forge one that reaches anybody (docs/security.md): the
endpoint answers trusted proxies only; the printed configuration overwrites
any client-sent `X-Walletgate-Denial` with the decision's own, within the
same client request; the token names the decision id it was made for; and
whatever arrives, only a 4xx/5xx status, a JSON error body and an allowlist
of headers are ever answered: never a success, a redirect or a cookie.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from multidict import CIMultiDict

from gateway.errors import ApiError, ErrorCode

DENIAL_PATH: Final = "/_walletgate/denial"
DECISION_ID_HEADER: Final = "X-Walletgate-Decision-Id"
DENIAL_HEADER: Final = "X-Walletgate-Denial"
# Error bodies are a few hundred bytes; nginx reads the decision's head into
# one proxy buffer (16 KiB in the printed configuration).
MAX_TOKEN: Final = 8192
# The only headers a denial ever carries back (what walletgate's refusals set);
# its Content-Type is always application/json.
ANSWERED_HEADERS: Final = frozenset(
    {
        "retry-after",
        "allow",
        "www-authenticate",
        "x-request-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-window",
        "ratelimit",
        "ratelimit-policy",
    }
)
_DECISION_ID: Final = re.compile(r"[A-Za-z0-9._-]{8,128}")


@dataclass(frozen=True, slots=True)
class Denial:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


def decision_id_of(sent: str | None) -> str | None:
    """The ingress's decision id (its `X-Walletgate-Decision-Id`) when well formed, else None."""
    return sent if sent is not None and _DECISION_ID.fullmatch(sent) else None


def carry_denial(sent_id: str, answer: web.StreamResponse) -> None:
    """Put a refused decision's answer into its own `X-Walletgate-Denial` header
    (called once the answer's headers are final), when the decision id the
    ingress sent (`sent_id`) is well formed."""
    if answer.status < 400 or not isinstance(answer, web.Response):
        return
    decision_id = decision_id_of(sent_id)
    if decision_id is None:
        return
    body = answer.body if isinstance(answer.body, bytes) else b""
    headers = [[k, v] for k, v in answer.headers.items() if k.lower() in ANSWERED_HEADERS]
    text = body.decode("utf-8", "replace")  # JSON error bodies; never raise after the answer
    record = {"id": decision_id, "status": answer.status, "headers": headers, "body": text}
    token = base64.urlsafe_b64encode(json.dumps(record, separators=(",", ":")).encode())
    if len(token) <= MAX_TOKEN:
        answer.headers[DENIAL_HEADER] = token.decode("ascii")


def refused(reason: str) -> ApiError:
    return ApiError(ErrorCode.BAD_REQUEST, "Invalid denial", {"reason": reason})


def read_denial(token: str | None, decision_id: str | None) -> Denial:
    """The denial a decision made for `decision_id`, checked; ApiError 400 otherwise."""
    if not token or decision_id is None or len(token) > MAX_TOKEN:
        raise refused("no denial of this decision was handed over")
    try:
        record = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise refused("the denial is malformed") from None
    if not isinstance(record, dict) or record.get("id") != decision_id:
        raise refused("the denial was made for another decision")
    return _checked(record)


def _checked(record: dict[str, object]) -> Denial:
    status, body, headers = record.get("status"), record.get("body"), record.get("headers")
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise refused("a denial's status is 4xx or 5xx")
    if not isinstance(body, str) or not _is_error_body(body):
        raise refused("a denial's body is a JSON error")
    if not isinstance(headers, list) or not all(_is_answered(pair) for pair in headers):
        raise refused("a denial carries only the headers of a refusal")
    return Denial(status, body.encode(), tuple((str(k), str(v)) for k, v in headers))


def _is_error_body(body: str) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("code"), str)


def _is_answered(pair: object) -> bool:
    if not isinstance(pair, list) or len(pair) != 2:
        return False
    name, value = pair
    return (
        isinstance(name, str)
        and isinstance(value, str)
        and name.lower() in ANSWERED_HEADERS
        and value.isprintable()
    )


def denial_response(denial: Denial) -> web.Response:
    headers = CIMultiDict(denial.headers)
    return web.Response(
        status=denial.status, body=denial.body, headers=headers, content_type="application/json"
    )
