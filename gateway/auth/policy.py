"""The route policy table: which routes exist, and `match(method, path)`.

The table holds the forwarded routes the operator configured and the key
management routes of both dialects (`gateway.auth.routes` says what each
requires). A request that matches no route is refused and never forwarded,
so the upstream only ever sees the routes the operator meant to expose: 405
with `Allow` when the path is a route's but the method is not, else 404.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from gateway.auth.routes import DEFAULT_ROUTES, KEY_ROUTES, Route, build_route
from gateway.config import RouteSettings
from gateway.errors import ApiError, ErrorCode
from gateway.records import record

__all__ = ["DEFAULT_ROUTES", "Route", "RouteMatch", "RouteTable"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A path parameter is one segment of URL-safe characters; anything else
# (encoded slashes, spaces, control bytes) cannot name an order.
_SEGMENT = r"[A-Za-z0-9._~:@!$&'()*+,;=-]{1,128}"


@record
class RouteMatch:
    route: Route
    params: Mapping[str, str]


class RouteTable:
    """match(method, path) -> RouteMatch, or ApiError 404."""

    def __init__(self, routes: Iterable[RouteSettings]) -> None:
        # The forwarded routes (what `[[routes]]` configures, what ingresses and
        # the interface description list); key management is matched as well.
        self.routes = tuple(build_route(r) for r in routes)
        # Static paths are a dict lookup; templated ones a short regex scan.
        self._static: dict[tuple[str, str], Route] = {}
        self._templated: list[tuple[str, re.Pattern[str], Route]] = []
        # Forwarded routes first: the hot path scans the fewest templates. A
        # configured route never shadows key management.
        reserved = {(r.method, r.template) for r in KEY_ROUTES}
        forwarded = [r for r in self.routes if (r.method, r.template) not in reserved]
        for route in (*forwarded, *KEY_ROUTES):
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
