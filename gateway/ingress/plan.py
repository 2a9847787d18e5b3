"""What every generated ingress configuration must do, independent of the ingress.

`walletgate ingress <kind>` turns an `IngressPlan` into one configuration:
paths walletgate serves itself (key management, body-authenticated routes,
the portal, documents) are proxied to walletgate; everything else asks the
decision endpoint first and goes to the upstream only when allowed, with the
identity headers walletgate returned and without the client's credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.auth.policy import Route, RouteTable
from gateway.upstream import header_policy

# Served by walletgate itself: key management of both dialects, the portal,
# order schemes and the API document (exact paths, then path prefixes).
WALLETGATE_EXACT = (
    "/api/v1/api-keys",
    "/api/v1/order-schemes",
    "/api/v1/signing",
    "/openapi.json",
    "/portal",
)
WALLETGATE_PREFIXES = ("/api/v1/api-keys/", "/api/v1/order-schemes/", "/api-key/", "/portal/")

# The one header policy, shared with proxy mode's forwarder.
CREDENTIAL_HEADERS = header_policy.CREDENTIALS
DECISION_HEADERS = header_policy.DECISION_HEADERS
IDENTITY_HEADERS = header_policy.IDENTITY_HEADERS
RATE_LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Window",
    "RateLimit",
    "RateLimit-Policy",
)
# Headers walletgate sets on every answer: the upstream's own are hidden.
GATEWAY_RESPONSE_HEADERS = (*RATE_LIMIT_HEADERS, "X-Request-ID")
_PARAM = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


@dataclass(frozen=True, slots=True)
class Origin:
    """scheme://host:port of a server the ingress talks to."""

    scheme: str
    host: str
    port: int

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}"


@dataclass(frozen=True, slots=True)
class BodyRoute:
    """A route authenticated by its body: the ingress sends it to walletgate."""

    method: str
    template: str

    @property
    def is_static(self) -> bool:
        return not _PARAM.search(self.template)

    @property
    def regex(self) -> str:
        """An anchored regular expression for the template (one segment per parameter)."""
        pieces = [re.escape(part) for part in _PARAM.split(self.template)]
        return "^" + "[^/]+".join(pieces) + "$"


@dataclass(frozen=True, slots=True)
class IngressPlan:
    listen: Origin
    upstream: Origin
    walletgate: Origin
    body_routes: tuple[BodyRoute, ...]
    # A DNS server the ingress asks again while running (nginx: `resolver`), so
    # replicas that come and go behind one name are followed; "" = resolve once.
    resolver: str = ""


def parse_listen(text: str) -> Origin:
    """HOST:PORT (or [v6]:PORT) the ingress listens on."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT")
    return Origin("http", host, int(port))


def parse_origin(flag: str, url: str) -> Origin:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{flag} {url!r}: expected an http(s)://host:port URL")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(f"{flag} {url!r}: give the origin only, without a path")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Origin(parts.scheme, parts.hostname, port)


def body_routes(routes: RouteTable) -> tuple[BodyRoute, ...]:
    return tuple(BodyRoute(r.method, r.template) for r in routes.routes if _by_body(r))


def _by_body(route: Route) -> bool:
    return route.order_signature


def build_plan(
    listen: str, upstream: str, walletgate: str, routes: RouteTable, resolver: str = ""
) -> IngressPlan:
    return IngressPlan(
        listen=parse_listen(listen),
        upstream=parse_origin("--upstream", upstream),
        walletgate=parse_origin("--walletgate", walletgate),
        body_routes=body_routes(routes),
        resolver=resolver,
    )
