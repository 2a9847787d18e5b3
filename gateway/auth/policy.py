"""The route policy table: which forwarded routes exist, what they require.

A request that matches no route is refused and never forwarded, so the
upstream only ever sees the routes the operator meant to expose: 405 with
`Allow` when the path is a route's but the method is not, else 404.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.config import RouteSettings
from gateway.errors import ApiError, ErrorCode
from gateway.keys.model import Permission
from gateway.order_schemes_config import route_scheme

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A path parameter is one segment of URL-safe characters; anything else
# (encoded slashes, spaces, control bytes) cannot name an order.
_SEGMENT = r"[A-Za-z0-9._~:@!$&'()*+,;=-]{1,128}"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    permission: Permission | None
    owner: str  # "order" (ask the upstream), "body" (field `owner`), "none"
    action: str | None  # signed-message action accepted here, if any
    public: bool
    order_signature: bool
    # The order-signature scheme's name when `order_signature` (true = canonical_json).
    order_scheme: str | None = None


DEFAULT_ROUTES: tuple[RouteSettings, ...] = (
    RouteSettings(
        "POST", "/api/v1/orders/new", permission="create", owner="body", order_signature=True
    ),
    RouteSettings(
        "POST",
        "/api/v1/orders/{uuid}/execute",
        permission="execute",
        owner="order",
        action="execute_order",
    ),
    RouteSettings(
        "PATCH",
        "/api/v1/orders/{uuid}/cancel",
        permission="cancel",
        owner="order",
        action="cancel_order",
    ),
    RouteSettings("GET", "/api/v1/orders/{uuid}", public=True),
    RouteSettings("GET", "/api/v1/orders", public=True),
)


def build_route(settings: RouteSettings) -> Route:
    return Route(
        method=settings.method.upper(),
        template=settings.path,
        permission=Permission(settings.permission) if settings.permission else None,
        owner=settings.owner,
        action=settings.action or None,
        public=settings.public,
        order_signature=route_scheme(settings.order_signature) is not None,
        order_scheme=route_scheme(settings.order_signature),
    )


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    params: Mapping[str, str]


class RouteTable:
    """match(method, path) -> RouteMatch, or ApiError 404."""

    def __init__(self, routes: Iterable[RouteSettings]) -> None:
        self.routes = tuple(build_route(r) for r in routes)
        # Static paths are a dict lookup; templated ones a short regex scan.
        self._static: dict[tuple[str, str], Route] = {}
        self._templated: list[tuple[str, re.Pattern[str], Route]] = []
        for route in self.routes:
            if _PARAM.search(route.template):
                self._templated.append((route.method, _compile(route.template), route))
            else:
                self._static[(route.method, route.template)] = route
        self._empty: Mapping[str, str] = {}

    def match(self, method: str, path: str) -> RouteMatch:
        route = self._static.get((method, path))
        if route is not None:
            return RouteMatch(route, self._empty)
        for route_method, pattern, route in self._templated:
            if route_method == method:
                found = pattern.fullmatch(path)
                if found:
                    return RouteMatch(route, found.groupdict())
        allowed = self.allowed_methods(path)
        if allowed:
            raise ApiError(
                ErrorCode.METHOD_NOT_ALLOWED,
                "Method not allowed",
                {"allowed": allowed},
                {"Allow": ", ".join(allowed)},
            )
        raise ApiError(ErrorCode.NOT_FOUND, "Not found")

    def allowed_methods(self, path: str) -> list[str]:
        """The methods some route accepts on `path` (only asked when the method matched none)."""
        methods = {method for method, template in self._static if template == path}
        methods.update(m for m, pattern, _ in self._templated if pattern.fullmatch(path))
        return sorted(methods)


def _compile(template: str) -> re.Pattern[str]:
    pieces = []
    position = 0
    for found in _PARAM.finditer(template):
        pieces.append(re.escape(template[position : found.start()]))
        pieces.append(f"(?P<{found.group(1)}>{_SEGMENT})")
        position = found.end()
    pieces.append(re.escape(template[position:]))
    return re.compile("".join(pieces))
