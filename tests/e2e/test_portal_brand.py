"""The exchange's own page: its title, accent colour and logo (served by the
gateway itself), dark mode by prefers-color-scheme, and the network it serves;
screenshots of it on a desktop and a phone, light and dark."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GatewayFactory
from tests.support.order_scheme_routes import SCHEMES
from tests.support.portal_browser import DESKTOP, PHONE
from tests.support.portal_steps import PortalFactory, create_in_page

# The portal fixtures (browser, open_portal, portal_wallet, shots_root).
pytest_plugins = ["tests.support.portal_fixtures"]

LOGO = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 120 32' width='120' height='32'>"
    "<rect width='32' height='32' rx='8' fill='#14b8a6'/>"
    "<text x='40' y='23' font-family='sans-serif' font-size='20' fill='#e2e8f0'>ACME</text></svg>"
)
BACKGROUND = {"light": "rgb(241, 245, 249)", "dark": "rgb(2, 6, 23)"}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_branded_page_in_light_and_dark_on_desktop_and_phone(
    scheme: str,
    viewport: dict[str, int],
    start_gateway: GatewayFactory,
    open_portal: PortalFactory,
    tmp_path: Path,
) -> None:
    logo = tmp_path / "acme.svg"
    logo.write_text(LOGO)
    gw = await start_gateway(
        portal={"title": "Acme Exchange", "accent_color": "#0f766e", "logo": str(logo)},
        signatures={"stacks_network": "testnet"},
        order_schemes=SCHEMES,  # an EIP-712 scheme names the EVM chain
    )
    portal = await open_portal(gw, viewport=viewport, color_scheme=scheme)
    page = portal.page
    assert await page.title() == "Acme Exchange"
    header = page.locator(".brand")
    assert "Acme Exchange" in await header.inner_text()
    image = header.locator("img.brand-logo")
    assert await image.get_attribute("src") == "portal/logo.svg"
    assert await image.evaluate("i => i.complete && i.naturalWidth > 0")
    network = page.get_by_test_id("network")
    await network.wait_for()
    chain_id = next(s["domain"]["chainId"] for s in SCHEMES.values() if s["kind"] == "eip712")
    assert await network.inner_text() == f"Stacks testnet · EVM chain {chain_id}" + (
        " (Ethereum)" if chain_id == 1 else ""
    )
    body = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert body == BACKGROUND[scheme]
    accent = page.get_by_test_id("connect-evm")
    assert await accent.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(15, 118, 110)"
    name = f"{'desktop' if viewport is DESKTOP else 'phone'}-{scheme}"
    await portal.shot(f"{name}-1-connect", full_page=False)

    await portal.connect("evm")
    shown = await create_in_page(portal, "Acme market maker")
    example = page.get_by_test_id("key-example")
    assert shown in await example.inner_text()
    assert gw.url + "/api/v1/orders" in await example.inner_text()
    await page.evaluate("window.scrollTo(0, 0)")
    await portal.shot(f"{name}-2-new-key", full_page=False)
    await page.get_by_role("button", name="I have saved it").click()
    assert await example.count() == 0  # gone with the key
    assert shown not in await page.content()
    await page.get_by_test_id("activity").first.click()
    await portal.idle()
    await portal.shot(f"{name}-3-activity")
    assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert portal.foreign_requests() == []
    assert portal.script_errors == []
