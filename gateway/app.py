"""build_app(settings): the one place that knows every part and wires them.

Request flow: request id and error body (`gateway.http.middleware`) -> route
table -> admit (charge the IP, authenticate, rate limit, authorise) -> ending
(forward, key management, or an auth-mode decision). Each resource
that must be opened and closed has a cleanup context of its own, so one that
fails to close (the final usage flush on a store that went away) never keeps
the others open: each is closed, and what happened is in the shutdown report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import MappingProxyType

from aiohttp import web

from gateway.addresses import TrustedProxies, parse_network
from gateway.auth.authenticate import Authenticator
from gateway.auth.authorise import AccessControl
from gateway.auth.operator import OperatorTokens
from gateway.auth.ownership import OwnerResolver
from gateway.auth.policy import DEFAULT_ROUTES, RouteTable
from gateway.config import ListenMode, OnError, Settings
from gateway.http.access_log import access_lines_context
from gateway.http.context import GATEWAY, Gateway, Policy, PolicyCell
from gateway.http.decision import add_decision_routes
from gateway.http.door import EveryTarget, handle_auth_mode, handle_request
from gateway.http.health import address_of, health_context
from gateway.http.middleware import framed
from gateway.http.openapi import serve_openapi
from gateway.http.order_schemes import add_order_scheme_routes
from gateway.http.portal import add_portal_routes
from gateway.http.signing_info import add_signing_routes
from gateway.keys.service import KeyService
from gateway.keys.store import StoreError, open_store
from gateway.logs import log_event, redact
from gateway.metrics import Metrics
from gateway.ratelimit import open_limiter
from gateway.ratelimit.clients import open_client as open_redis_client
from gateway.ratelimit.scopes import QuotaGate
from gateway.timestamps import UtcClock
from gateway.upstream.connection import HeadLimits
from gateway.upstream.forwarder import Forwarder
from gateway.wallets import SignatureVerifier
from gateway.wallets.order_checks import check_settings, compile_route_schemes
from gateway.wallets.order_verify import OrderVerifier
from gateway.wallets.replay import MemoryReplayGuard, RedisReplayGuard, ReplayGuard

log = logging.getLogger("walletgate")

__all__ = ["SHUTDOWN", "ShutdownReport", "build_app", "build_gateway", "service_key_hashes"]


@dataclass(slots=True)
class ShutdownReport:
    """What the cleanup contexts closed, and which failed to close (with why)."""

    closed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = self.closed + [f"{name} (failed: {why})" for name, why in self.failed]
        return "closed " + ", ".join(parts) if parts else "nothing to close"


SHUTDOWN = web.AppKey("shutdown", ShutdownReport)


def build_gateway(settings: Settings, clock: Callable[[], float] = time.time) -> Gateway:
    metrics = Metrics()
    store = open_store(settings.store.url)
    keys = KeyService(
        store,
        settings.keys,
        clock=UtcClock(clock),
        history_days=settings.usage.history_days,
        seconds=clock,
    )
    limiter = open_limiter(settings.redis.url, prefix=settings.redis.prefix)
    replay = _replay_guard(settings, clock)
    verifier = SignatureVerifier(
        replay=replay,
        chains=settings.signatures.chains,
        max_age_s=settings.signatures.max_age_s,
        clock=clock,
        observe=metrics.count_signature,
        stacks_network=settings.signatures.stacks_network,
        domain=settings.signatures.domain,
    )
    check_settings(settings)
    routes = settings.routes or DEFAULT_ROUTES
    orders = OrderVerifier(
        compile_route_schemes(settings, routes),
        replay=replay,
        replay_ttl_s=settings.signatures.max_age_s,
        chains=settings.signatures.chains,
        observe=metrics.count_signature,
    )
    authenticator = Authenticator(keys, verifier, orders)
    forwarder = Forwarder(
        settings.upstream.url or "http://127.0.0.1:0",
        timeout_s=settings.upstream.timeout_s,
        max_connections=settings.upstream.max_connections,
        head_limits=HeadLimits(settings.upstream.max_head_bytes, settings.upstream.max_headers),
    )
    owners = OwnerResolver(
        forwarder,
        owner_field=settings.upstream.owner_field,
        cache_size=settings.upstream.owner_cache_size,
        on_lookup=metrics.owner_lookups.inc,
    )
    quotas = QuotaGate(
        limiter,
        settings.rate_limits,
        metrics,
        fail_open=settings.redis.on_error == OnError.OPEN,
        clock=clock,
        tiers=settings.tiers,
    )
    policy = Policy(
        settings=settings,
        routes=RouteTable(routes),
        quotas=quotas,
        service_key_hashes=service_key_hashes(settings),
        operator_tokens=OperatorTokens(settings.admin.tokens),
    )
    return Gateway(
        metrics=metrics,
        store=store,
        keys=keys,
        limiter=limiter,
        replay=replay,
        verifier=verifier,
        authenticator=authenticator,
        forwarder=forwarder,
        owners=owners,
        access=AccessControl(owners, authenticator),
        trusted_proxies=TrustedProxies(parse_network(c) for c in settings.listen.trusted_proxies),
        policy=PolicyCell(policy),
    )


def service_key_hashes(settings: Settings) -> MappingProxyType[str, str]:
    return MappingProxyType({s.sha256.lower(): s.name for s in settings.service_keys})


def _replay_guard(settings: Settings, clock: Callable[[], float]) -> ReplayGuard:
    if settings.redis.url:
        client = open_redis_client(settings.redis.url)
        return RedisReplayGuard(client, f"{settings.redis.prefix}:", owns_client=True)
    # The verifier's clock: an entry lives until the message it remembers
    # leaves the age window by that same clock, the one tests can move.
    return MemoryReplayGuard(maxsize=settings.signatures.replay_cache_size, clock=clock)


def build_app(settings: Settings, clock: Callable[[], float] = time.time) -> web.Application:
    # The body limit is enforced by our own readers (413 with our error body);
    # aiohttp's own check is set above it so it never answers first.
    app = web.Application(
        client_max_size=settings.limits.max_body_bytes + 1024,
        # Request bodies pass through as sent, Content-Encoding and all: never
        # decoded here, so bytes and label reaching the upstream agree.
        handler_args={
            "max_field_size": 16384,
            "max_line_size": 16384,
            "auto_decompress": False,
        },
    )
    app[GATEWAY] = build_gateway(settings, clock)
    app[SHUTDOWN] = ShutdownReport()
    # Opened in this order, closed in the reverse one: usage is flushed first,
    # while the store is still open.
    # First in, last out: lines of requests answered during shutdown are kept.
    app.cleanup_ctx.append(access_lines_context)
    for ctx in _RESOURCES:
        app.cleanup_ctx.append(ctx)
    # The dependency watcher starts once everything it probes is open.
    app.cleanup_ctx.append(health_context)
    app.router.add_get("/openapi.json", framed(serve_openapi), allow_head=False)
    add_portal_routes(app)
    add_order_scheme_routes(app)
    add_signing_routes(app)
    add_decision_routes(app)
    # Every route of the table (key management and the order routes) through one door.
    # Auth mode: the ingress forwards; walletgate forwards only body-authenticated routes.
    door = handle_auth_mode if settings.listen.mode == ListenMode.AUTH else handle_request
    every_target = EveryTarget()
    app.router.register_resource(every_target)
    every_target.add_route("*", framed(door))
    return app


Step = Callable[[Gateway], Awaitable[None]]
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def _resource(name: str, close: Step, start: Step | None = None) -> CleanupContext:
    """A cleanup context that starts one resource and closes it whatever the others do."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        gw = app[GATEWAY]
        if start is not None:
            await start(gw)
        yield
        report = app[SHUTDOWN]
        try:
            await close(gw)
        except Exception as exc:
            # Logged and reported, not raised: the process still stops cleanly
            # and every other resource has its own context, closed regardless.
            why = f"{type(exc).__name__}: {redact(str(exc))}"
            log_event(log, logging.ERROR, "close.failed", f"closing the {name} failed: {why}")
            report.failed.append((name, why))
        else:
            report.closed.append(name)

    lifecycle.__name__ = f"lifecycle_{name.replace(' ', '_')}"
    return lifecycle


async def _open_store(gw: Gateway) -> None:
    try:
        await gw.store.open()
    except StoreError as exc:
        # Where it is, never how to log in: the URL may carry a password.
        where = address_of(gw.settings.store.url)
        raise StoreError(f"{exc} (store.url: {where}; is it running?)") from None


async def _start_keys(gw: Gateway) -> None:
    await gw.keys.start(gw.settings.usage.flush_interval_s)
    gw.quotas.check_tiers(gw.keys.tiers.in_use())


_RESOURCES: tuple[CleanupContext, ...] = (
    # Closed last: the requests answered while the others close are counted too.
    _resource("metrics", lambda gw: gw.metrics.close(), start=lambda gw: gw.metrics.start()),
    _resource("key store", lambda gw: gw.store.close(), start=_open_store),
    _resource("replay guard", lambda gw: gw.replay.close()),
    _resource("rate limiter", lambda gw: gw.limiter.close()),
    _resource("upstream pool", lambda gw: gw.forwarder.close(), lambda gw: gw.forwarder.start()),
    # Usage counted so far is flushed by keys.close(): nothing lost on SIGTERM
    # unless the store refuses it, which is then reported.
    _resource("key service", lambda gw: gw.keys.close(), start=_start_keys),
)
