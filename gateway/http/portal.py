"""The key portal: `GET /portal`, a page where wallet owners manage their keys.

The page is static (HTML, CSS and JS shipped in `gateway/http/portal/`); every
key operation it performs is an ordinary signed request to the key-management
endpoints, signed by the owner's wallet in the browser. The gateway only
serves the files, under a Content-Security-Policy that lets the page load
nothing but these files and talk to nothing but this origin.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from aiohttp import web

from gateway.auth.policy import RouteMatch
from gateway.auth.routes import page_route
from gateway.config import PortalSettings
from gateway.errors import ApiError, ErrorCode
from gateway.http.admit import admit
from gateway.http.context import GATEWAY
from gateway.http.middleware import framed
from gateway.portal_brand import read_logo, theme_css

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


def _read(name: str) -> bytes:
    return resources.files("gateway.http").joinpath("portal", *name.split("/")).read_bytes()


def _load(name: str, content_type: str) -> Asset:
    return Asset(_read(name), content_type)


# The page's own files: one stylesheet and the script's ES modules.
FILES = (
    ("portal.css", "text/css"),
    ("portal.js", "text/javascript"),
    ("activity.js", "text/javascript"),
    ("api.js", "text/javascript"),
    ("dom.js", "text/javascript"),
    ("errors.js", "text/javascript"),
    ("example.js", "text/javascript"),
    ("evm.js", "text/javascript"),
    ("form.js", "text/javascript"),
    ("keys.js", "text/javascript"),
    ("stacks.js", "text/javascript"),
    ("usage.js", "text/javascript"),
    ("verify.js", "text/javascript"),
    ("wallets.js", "text/javascript"),
    # Signature checks before anything is sent: noble-secp256k1 and noble-hashes
    # (MIT, vendored unchanged; versions in vendor/README.md).
    ("vendor/secp256k1.js", "text/javascript"),
    ("vendor/sha2.js", "text/javascript"),
    ("vendor/sha3.js", "text/javascript"),
    ("vendor/legacy.js", "text/javascript"),
    ("vendor/_md.js", "text/javascript"),
    ("vendor/_u64.js", "text/javascript"),
    ("vendor/utils.js", "text/javascript"),
)


def _page(brand: PortalSettings, logo_name: str | None) -> Asset:
    """index.html with the exchange's title and logo; escaped, it is text in the page."""
    page = _read("index.html").decode("utf-8")
    title = html.escape(brand.title)
    page = page.replace("{{title}}", title)
    mark = '<span class="brand-mark" aria-hidden="true"></span>'
    if logo_name is not None:
        page = page.replace(mark, f'<img class="brand-logo" src="portal/{logo_name}" alt="">')
    return Asset(page.encode("utf-8"), "text/html")


def load_assets(brand: PortalSettings) -> MappingProxyType[str, Asset]:
    """The page and its files, read once at start-up: no file access per request."""
    logo = read_logo(brand.logo)
    assets = {"": _page(brand, None if logo is None else logo.name)}
    assets.update((name, _load(name, content_type)) for name, content_type in FILES)
    assets["theme.css"] = Asset(theme_css(brand.accent_color).encode("utf-8"), "text/css")
    if logo is not None:
        assets[logo.name] = Asset(logo.body, logo.content_type)
    return MappingProxyType(assets)


ASSETS = web.AppKey("portal_assets", MappingProxyType[str, Asset])


_NO_PARAMS: MappingProxyType[str, str] = MappingProxyType({})
_PAGE = RouteMatch(page_route(PORTAL_PATH), _NO_PARAMS)
_ASSET = RouteMatch(page_route(PORTAL_PATH + "/{asset}"), _NO_PARAMS)
_VENDOR = RouteMatch(page_route(PORTAL_PATH + "/{vendor}/{asset}"), _NO_PARAMS)


async def serve_portal(request: web.Request) -> web.Response:
    name = request.match_info.get("asset", "")
    vendored = "vendor" in request.match_info
    # A public route: charged to the client IP like every other one.
    matched = _VENDOR if vendored else _ASSET if name else _PAGE
    await admit(request.app[GATEWAY], request, matched, with_body=False)
    if vendored:
        name = f"vendor/{name}"
    asset = request.app[ASSETS].get(name)
    if asset is None:
        raise ApiError(ErrorCode.NOT_FOUND, "Not found")
    textual = asset.content_type.startswith("text/") or asset.content_type.endswith("+xml")
    return web.Response(
        body=asset.body,
        content_type=asset.content_type,
        charset="utf-8" if textual else None,
        headers=SECURITY_HEADERS,
    )


def add_portal_routes(app: web.Application) -> None:
    """Serve the portal unless `[portal] enabled = false` (then /portal is a 404)."""
    if not app[GATEWAY].settings.portal.enabled:
        return
    app[ASSETS] = load_assets(app[GATEWAY].settings.portal)
    app.router.add_get(PORTAL_PATH, framed(serve_portal))
    app.router.add_get(PORTAL_PATH + "/{asset}", framed(serve_portal))
    app.router.add_get(PORTAL_PATH + "/{vendor:vendor}/{asset}", framed(serve_portal))
