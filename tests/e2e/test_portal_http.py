"""GET /portal over plain HTTP: headers, files, the switch, and per-IP limits.

The browser tests (test_portal.py) cover what the page does; these need no
browser and run everywhere.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

from tests.conftest import GatewayFactory, RunningGateway


def _png() -> bytes:
    """A 1x1 PNG, built here so the test carries no binary file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes((8, 6, 0, 0, 0))
    pixels = zlib.compress(b"\x00\x0f\x76\x6e\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = _png()

SCRIPTS = [
    "portal",
    "activity",
    "api",
    "dom",
    "errors",
    "example",
    "evm",
    "form",
    "keys",
    "stacks",
    "usage",
    "verify",
    "wallets",
    "vendor/secp256k1",
    "vendor/sha2",
    "vendor/sha3",
    "vendor/legacy",
    "vendor/_md",
    "vendor/_u64",
    "vendor/utils",
]
ASSETS = {
    "/portal": "text/html",
    "/portal/portal.css": "text/css",
    "/portal/theme.css": "text/css",
} | {f"/portal/{name}.js": "text/javascript" for name in SCRIPTS}
# Anything fetched from another origin: src/href/url() with a scheme or `//`.
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:[a-z]+:)?//|url\(\s*["']?(?:[a-z]+:)?//""")


async def test_every_file_is_served_with_the_security_headers(gateway: RunningGateway) -> None:
    for path, content_type in ASSETS.items():
        async with gateway.client.get(gateway.at(path)) as response:
            body = await response.text()
            assert response.status == 200, path
            assert response.content_type == content_type
            csp = response.headers["Content-Security-Policy"]
            assert csp.startswith("default-src 'none'; script-src 'self'; style-src 'self'")
            assert "frame-ancestors 'none'" in csp and "form-action 'none'" in csp
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Referrer-Policy"] == "no-referrer"
            assert response.headers["Cache-Control"] == "no-store"
            assert "X-RateLimit-Remaining" in response.headers  # charged to the client IP
            assert not EXTERNAL.search(body), path


async def test_the_page_says_it_needs_javascript(gateway: RunningGateway) -> None:
    async with gateway.client.get(gateway.at("/portal")) as response:
        page = await response.text()
    noscript = page[page.index("<noscript>") : page.index("</noscript>")]
    assert "needs JavaScript" in noscript
    # No inline script or style: the CSP would refuse them.
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None
    assert "<style" not in page and "style=" not in page
    for hook in (
        "connect-stacks",
        "connect-evm",
        "address",
        "key-name",
        "perm-create",
        "perm-execute",
        "perm-cancel",
        "create-key",
        "new-key",
        "confirm",
        "error",
    ):
        assert f'data-testid="{hook}"' in page, hook


async def test_every_module_the_page_imports_is_served(gateway: RunningGateway) -> None:
    """The ES modules import each other by relative path: each must be one we serve."""
    for path in [p for p in ASSETS if p.endswith(".js")]:
        async with gateway.client.get(gateway.at(path)) as response:
            body = await response.text()
        base = path.rsplit("/", 1)[0]
        for target in re.findall(r'^import [^;]*? from "\./([\w./]+)";', body, re.M):
            assert f"{base}/{target}" in ASSETS, (path, target)


async def test_branding_is_served_from_the_gateway_itself(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    logo = tmp_path / "brand.png"
    logo.write_bytes(PNG)
    gw = await start_gateway(
        portal={"title": "Acme <Exchange>", "accent_color": "#0F766E", "logo": str(logo)}
    )
    async with gw.client.get(gw.at("/portal")) as response:
        page = await response.text()
    assert "<title>Acme &lt;Exchange&gt;</title>" in page  # text, never markup
    assert '<img class="brand-logo" src="portal/logo.png" alt="">' in page
    async with gw.client.get(gw.at("/portal/logo.png")) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        assert await response.read() == PNG
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    async with gw.client.get(gw.at("/portal/theme.css")) as response:
        assert "--accent: #0f766e; --accent-ink: #ffffff;" in await response.text()
    async with gw.client.get(gw.at("/portal/logo.svg")) as response:
        assert response.status == 404


async def test_unknown_portal_file_is_a_json_404(gateway: RunningGateway) -> None:
    async with gateway.client.get(gateway.at("/portal/../config.py")) as response:
        assert response.status == 404
        assert (await response.json())["code"] == "NOT_FOUND"
    async with gateway.client.get(gateway.at("/portal/secrets.txt")) as response:
        assert response.status == 404
        assert (await response.json())["code"] == "NOT_FOUND"


async def test_disabled_portal_is_not_served(start_gateway: GatewayFactory) -> None:
    gw = await start_gateway(portal={"enabled": False})
    for path in ASSETS:
        async with gw.client.get(gw.at(path)) as response:
            assert response.status == 404
            assert (await response.json())["code"] == "NOT_FOUND"
    assert gw.backend_requests == []  # never forwarded


async def test_portal_requests_count_against_the_client_ip(start_gateway: GatewayFactory) -> None:
    gw = await start_gateway(rate_limits={"public_per_minute": 2})
    statuses = []
    for _ in range(3):
        async with gw.client.get(gw.at("/portal")) as response:
            statuses.append(response.status)
            retry_after = response.headers.get("Retry-After")
    assert statuses == [200, 200, 429]
    assert retry_after is not None and int(retry_after) >= 1
