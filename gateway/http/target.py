"""What the gateway forwards: exactly the request it authorised, or a 400.

The route table matches a decoded path; the upstream decodes the target it
receives again. For the two to agree, the forwarded target is rebuilt in
origin-form from the very path the table matched, plus the query as sent, and
every target whose meaning depends on who decodes it is refused:

- any form but origin-form (`GET http://other.host/...`, `*`, authority-form):
  an upstream that honours an absolute URI may serve another virtual host;
- dot segments, plain or percent-encoded (`/a/%2e%2e`): an upstream resolves
  them to a path no route allows;
- encoded slashes or backslashes (`%2f`, `%5c`, `\\`): one side sees one
  segment, the other two;
- fragments (`#`), which a client never sends.

Bodies where the method has no body semantics (GET, HEAD, DELETE) are refused
too: an upstream could act on a body the gateway never looked at.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, unquote

from multidict import CIMultiDictProxy

from gateway.errors import ApiError, bad_request
from gateway.records import record

# Methods whose request body has no defined meaning (RFC 9110, section 9.3): never forwarded.
BODILESS: Final = frozenset({"GET", "HEAD", "DELETE"})
# Characters a path keeps unencoded when rebuilt (RFC 3986 pchar and "/").
_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"
_DOT_SEGMENTS: Final = frozenset({".", ".."})


@record
class Target:
    """A checked request target: the decoded path the routes match, and what is forwarded."""

    path: str  # decoded once; what the route table matches
    origin_form: str  # the matched path, re-encoded, and the query exactly as sent


def refused(reason: str) -> ApiError:
    return bad_request("Invalid request target", reason=reason)


def request_target(raw: str) -> Target:
    """The target of a request line, checked; ApiError 400 when it is ambiguous."""
    path, origin_form = _checked(raw)
    return Target(path, origin_form)


def target_path(raw: str) -> str:
    """`request_target(raw).path`, for a decision, which forwards nothing."""
    return _checked(raw)[0]


def _checked(raw: str) -> tuple[str, str]:
    """The decoded path and the origin-form to forward; ApiError 400 when ambiguous."""
    if raw[:1] != "/":
        raise refused("only origin-form targets (starting with /) are accepted")
    if "#" in raw:
        raise refused("fragments are not sent in requests")
    raw_path, mark, query = raw.partition("?")
    if "%" not in raw_path and "\\" not in raw_path:
        # No escapes (the usual case): the path is its own decoding and encoding.
        path, origin_form = raw_path, raw
    else:
        path = _decoded(raw_path)
        origin_form = quote(path, safe=_PATH_SAFE) + mark + query
    if "/." in path and _DOT_SEGMENTS.intersection(path.split("/")):
        raise refused("dot segments are not accepted in paths")
    return path, origin_form


def _decoded(raw_path: str) -> str:
    lowered = raw_path.lower()
    if "\\" in raw_path or "%5c" in lowered:
        raise refused("backslashes are not accepted in paths")
    if "%2f" in lowered:
        raise refused("encoded slashes are not accepted in paths")
    try:
        return unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        raise refused("the path is not UTF-8 once decoded") from None


def refuse_unforwardable_body(method: str, body_exists: bool) -> None:
    if body_exists and method in BODILESS:
        raise bad_request("Request body not allowed", reason=f"{method} requests carry no body")


def refuse_encoded_body(headers: CIMultiDictProxy[str]) -> None:
    """Where the gateway reads the body (signatures), it must be plain: never decoded here."""
    coding = headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        raise bad_request(
            "Encoded request body not accepted here",
            reason="this route reads the body; send it without Content-Encoding",
        )
