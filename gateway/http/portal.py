"""The key portal: `GET /portal`, a page where wallet owners manage their keys.

The page is static (HTML, CSS and JS shipped in `gateway/http/portal/`); every
key operation it performs is an ordinary signed request to the key-management
endpoints, signed by the owner's wallet in the browser. The gateway only
serves the files, under a Content-Security-Policy that lets the page load
nothing but these files and talk to nothing but this origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from aiohttp import web

from gateway.auth.policy import RouteMatch
from gateway.auth.routes import page_route
from gateway.errors import ApiError, ErrorCode
from gateway.http.admit import admit
from gateway.http.context import GATEWAY

PORTAL_PATH = "/portal"

# Nothing from elsewhere, no inline code, no framing, no forms posting away,
# no <base> rewriting: the page can only run its own script and reach this
# origin. Trusted Types makes any accidental HTML-string sink a hard error.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)

SECURITY_HEADERS = MappingProxyType(
    {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        # The page shows a new key once; no cache may keep a copy of anything here.
        "Cache-Control": "no-store",
    }
)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str


def _load(name: str, content_type: str) -> Asset:
    body = resources.files("gateway.http").joinpath("portal", name).read_bytes()
    return Asset(body, content_type)


# The page's own files: one stylesheet and the script's ES modules.
FILES = (
    ("portal.css", "text/css"),
    ("portal.js", "text/javascript"),
    ("api.js", "text/javascript"),
    ("dom.js", "text/javascript"),
    ("errors.js", "text/javascript"),
    ("usage.js", "text/javascript"),
    ("wallets.js", "text/javascript"),
)


def load_assets() -> MappingProxyType[str, Asset]:
    """The page and its files, read once at start-up: no file access per request."""
    assets = {"": _load("index.html", "text/html")}
    assets.update((name, _load(name, content_type)) for name, content_type in FILES)
    return MappingProxyType(assets)


ASSETS = web.AppKey("portal_assets", MappingProxyType[str, Asset])


_PAGE = RouteMatch(page_route(PORTAL_PATH), MappingProxyType({}))
_ASSET = RouteMatch(page_route(PORTAL_PATH + "/{asset}"), MappingProxyType({}))


async def serve_portal(request: web.Request) -> web.Response:
    name = request.match_info.get("asset", "")
    # A public route: charged to the client IP like every other one.
    await admit(request, _ASSET if name else _PAGE, with_body=False)
    asset = request.app[ASSETS].get(name)
    if asset is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Not found")
    return web.Response(
        body=asset.body,
        content_type=asset.content_type,
        charset="utf-8",
        headers=SECURITY_HEADERS,
    )


def add_portal_routes(app: web.Application) -> None:
    """Serve the portal unless `[portal] enabled = false` (then /portal is a 404)."""
    if not app[GATEWAY].settings.portal.enabled:
        return
    app[ASSETS] = load_assets()
    app.router.add_get(PORTAL_PATH, serve_portal)
    app.router.add_get(PORTAL_PATH + "/{asset}", serve_portal)
