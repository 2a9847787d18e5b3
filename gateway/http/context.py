"""The parts of one running gateway, reachable from handlers via the app.

`app.py` builds a `Gateway` and stores it under `GATEWAY`; handlers and
middlewares read it from `request.app[GATEWAY]`. No module globals.

The wiring is frozen once built. What SIGHUP may change while running
(settings, routes, rate limits, service keys) is one frozen `Policy`, swapped
whole by `Gateway.apply`: a request reads either the old one or the new one.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from gateway.addresses import TrustedProxies, is_address
from gateway.auth.authenticate import Authenticator
from gateway.auth.authorise import AccessControl
from gateway.auth.operator import OperatorTokens
from gateway.auth.ownership import OwnerResolver
from gateway.auth.policy import RouteTable
from gateway.config import Settings
from gateway.keys.service import KeyService
from gateway.keys.store.base import KeyStore
from gateway.metrics import Metrics
from gateway.ratelimit import Limiter, Quota
from gateway.ratelimit.scopes import QuotaGate
from gateway.upstream.forwarder import Forwarder
from gateway.wallets import SignatureVerifier
from gateway.wallets.replay import ReplayGuard


@dataclass(frozen=True, slots=True)
class Policy:
    """What a running process takes over from a re-read configuration, as one value."""

    settings: Settings
    routes: RouteTable
    quotas: QuotaGate
    service_key_hashes: Mapping[str, str]  # sha256 hex -> service name
    # `[[admin.tokens]]` by hash: a leaked token is removed by SIGHUP, no restart.
    operator_tokens: OperatorTokens = field(default_factory=lambda: OperatorTokens(()))


class PolicyCell:
    """The one mutable place of the wiring: the current `Policy`, replaced whole."""

    __slots__ = ("current",)

    def __init__(self, policy: Policy) -> None:
        self.current = policy


@dataclass(frozen=True, slots=True)
class Gateway:
    metrics: Metrics
    store: KeyStore
    keys: KeyService
    limiter: Limiter
    replay: ReplayGuard
    verifier: SignatureVerifier
    authenticator: Authenticator
    forwarder: Forwarder
    owners: OwnerResolver
    access: AccessControl
    trusted_proxies: TrustedProxies
    policy: PolicyCell
    request_ids: RequestIds = field(default_factory=lambda: RequestIds())

    @property
    def settings(self) -> Settings:
        return self.policy.current.settings

    @property
    def routes(self) -> RouteTable:
        return self.policy.current.routes

    @property
    def quotas(self) -> QuotaGate:
        return self.policy.current.quotas

    @property
    def service_key_hashes(self) -> Mapping[str, str]:
        return self.policy.current.service_key_hashes

    @property
    def operator_tokens(self) -> OperatorTokens:
        return self.policy.current.operator_tokens

    def minute_ceiling(self, wallet: str) -> int:
        """The most a key of `wallet` may have per minute: its tier's figure, else
        [rate_limits] (a tier no longer configured counts as none)."""
        tier = self.settings.tier(self.keys.tiers.of(wallet))
        return (tier or self.settings.rate_limits).per_minute

    def apply(self, policy: Policy) -> None:
        """Swap in a reloaded policy (SIGHUP): one assignment, between two requests."""
        self.policy.current = policy


GATEWAY = web.AppKey("gateway", Gateway)


@dataclass(slots=True)
class RequestState:
    """What the gateway learns about one request as it moves through the steps.

    One record under one request key: its fields are read and written as
    attributes, where the request's own mapping costs a method call each
    (and an exception for every missing key).
    """

    request_id: str
    client_ip: str
    route: str | None = None  # the route template, once matched
    auth: str = "none"  # how the request was authenticated
    # The rate-limit decision whose headers the answer carries: written once by
    # `admit`, or, for a request refused before the door, by its error answer.
    quota: Quota | None = None
    # For the access line: who was identified, how long the upstream took, which error.
    key_id: str | None = None
    wallet: str | None = None
    upstream_s: float | None = None
    error_code: str | None = None
    # Called with the answer once its headers are final (nginx decisions carry their denial).
    on_answer: Callable[[web.StreamResponse], None] | None = None


STATE = web.RequestKey("state", RequestState)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIds:
    """Fresh request ids: a random per-process prefix and a counter.

    Unique across processes and restarts, and far cheaper than uuid4 on every
    request; request ids are correlation handles, not secrets.
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


def request_id_for(request: web.Request, ids: RequestIds) -> str:
    """The client's X-Request-ID when well formed, else a fresh one."""
    sent = request.headers.get("X-Request-ID")
    if sent is not None and _REQUEST_ID.fullmatch(sent):
        return sent
    return ids.next()


def client_ip(
    request: web.Request, trusted: TrustedProxies, header: str = "x-forwarded-for"
) -> str:
    """The socket peer, or the nearest untrusted hop behind trusted proxies.

    Every field line of the forwarding header is one list (RFC 9110, section 5.3): a
    proxy that appends its own line must not leave a client's first line in
    charge. The list is walked from the right, across trusted proxies only;
    the other forwarding header is never believed.
    """
    peer = request.remote or ""
    if not trusted or not is_trusted(peer, trusted):
        return peer
    hops = forwarded_hops(request.headers.getall(header, ()), header)
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop if is_address(hop) else peer
    return hops[0] if hops and is_address(hops[0]) else peer


def forwarded_hops(lines: Iterable[str], header: str) -> list[str]:
    """The addresses of all lines of X-Forwarded-For, or the `for=` of Forwarded."""
    items = [item.strip() for line in lines for item in line.split(",")]
    if header == "forwarded":
        items = [_forwarded_for(item) for item in items]
    return [item for item in items if item]


def _forwarded_for(element: str) -> str:
    # RFC 7239: `for=192.0.2.1;proto=https`, `for="[2001:db8::1]:4711"`.
    for pair in element.split(";"):
        name, _, value = pair.strip().partition("=")
        if name.strip().lower() != "for":
            continue
        value = value.strip().strip('"')
        if value.startswith("["):
            return value[1 : value.find("]")] if "]" in value else "-"
        # An IPv4 address with a port; anything else (obfuscated) stays as is.
        host, _, port = value.partition(":")
        return host if port.isdigit() and value.count(":") == 1 else value
    return "-"


def peer_is_trusted(request: web.Request, trusted: TrustedProxies) -> bool:
    """Whether the socket peer is one of `listen.trusted_proxies`."""
    return bool(trusted) and is_trusted(request.remote or "", trusted)


def is_trusted(address: str, trusted: TrustedProxies) -> bool:
    """A dual-stack listener's `::ffff:10.0.0.1` peer is the trusted proxy 10.0.0.1."""
    return address in trusted
