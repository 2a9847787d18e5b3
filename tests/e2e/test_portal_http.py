"""GET /portal over plain HTTP: headers, files, the switch, and per-IP limits.

The browser tests (test_portal.py) cover what the page does; these need no
browser and run everywhere.
"""

from __future__ import annotations

import re

from tests.conftest import GatewayFactory, RunningGateway

ASSETS = {
    "/portal": "text/html",
    "/portal/portal.css": "text/css",
    "/portal/portal.js": "text/javascript",
    "/portal/api.js": "text/javascript",
    "/portal/dom.js": "text/javascript",
    "/portal/errors.js": "text/javascript",
    "/portal/usage.js": "text/javascript",
    "/portal/wallets.js": "text/javascript",
}
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
