"""The key portal's headers, isolation, keyboard use and phone layout, in a real browser."""

from __future__ import annotations

from tests.conftest import RunningGateway, create_api_key
from tests.support.portal_browser import PHONE, TestWallet
from tests.support.portal_steps import (
    PortalFactory,
    assert_key_gone,
    create_in_page,
    stored_key,
)

# The portal fixtures (browser, open_portal, portal_wallet, shots_root).
pytest_plugins = ["tests.support.portal_fixtures"]


async def test_page_headers_and_nothing_loaded_from_elsewhere(
    gateway: RunningGateway, open_portal: PortalFactory
) -> None:
    portal = await open_portal(gateway)
    response = await portal.page.request.get(gateway.url + "/portal")
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ):
        assert directive in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    await portal.connect("stacks")
    shown = await create_in_page(portal, "Headers bot")
    assert portal.requested, "the page made no request at all"
    assert portal.foreign_requests() == []
    # Away and back (the back/forward cache included): the key is not restored.
    await portal.page.goto(gateway.url + "/openapi.json")
    await portal.page.go_back()
    await portal.page.get_by_test_id("connect-stacks").wait_for()
    await assert_key_gone(portal, shown)


async def test_labels_and_keyboard_order(
    gateway: RunningGateway, open_portal: PortalFactory
) -> None:
    portal = await open_portal(gateway)
    page = portal.page
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.dataset.testid") == "connect-stacks"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.dataset.testid") == "connect-evm"
    await page.keyboard.press("Enter")
    await page.locator("#keys-panel:not([hidden])").wait_for()
    await portal.idle()

    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, output')]
              .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
              .map((e) => e.id || e.outerHTML)"""
    )
    assert unlabelled == []
    nameless = await page.evaluate(
        """() => [...document.querySelectorAll('button')]
              .filter((b) => !b.textContent.trim() && !b.getAttribute('aria-label'))
              .map((b) => b.id)"""
    )
    assert nameless == []

    await page.get_by_test_id("key-name").focus()
    order = []
    for _ in range(5):
        await page.keyboard.press("Tab")
        order.append(
            await page.evaluate(
                "document.activeElement.dataset.testid || document.activeElement.tagName"
            )
        )
    assert order == ["perm-create", "perm-execute", "perm-cancel", "SUMMARY", "create-key"]
    await page.keyboard.press("Enter")  # submits with the keyboard: the name is missing
    assert "name" in await portal.error_text()


async def test_phone_layout_fits_with_the_activity_open(
    gateway: RunningGateway, open_portal: PortalFactory, portal_wallet: TestWallet
) -> None:
    portal = await open_portal(gateway, viewport=PHONE)
    page = portal.page
    await portal.shot("phone-01-connect")
    await portal.connect("stacks")
    await create_in_page(portal, "Phone bot")
    await portal.shot("phone-02-new-key")
    await page.get_by_role("button", name="I have saved it").click()
    await portal.shot("phone-03-keys")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]

    await page.get_by_role("button", name="Activity of Phone bot").click()
    await portal.idle()
    assert await page.locator(".events-row").count() == 1
    assert '"action":"list_api_key_events"' in portal_wallet.signed[-1]
    await portal.shot("phone-04-activity")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_revoke_by_keyboard_and_escape_cancels(
    gateway: RunningGateway, open_portal: PortalFactory, portal_wallet: TestWallet
) -> None:
    made = await create_api_key(gateway, portal_wallet.evm, "Keyboard bot")
    portal = await open_portal(gateway)
    page = portal.page
    await portal.connect("evm")
    row = page.locator(f'[data-testid="key-row"][data-key-id="{made["keyId"]}"]')

    await row.get_by_test_id("revoke").focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("#confirm-dialog")
    await dialog.wait_for(state="visible")
    assert await page.evaluate("document.activeElement.id") == "cancel-confirm"
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="hidden")
    assert (await stored_key(gateway, portal_wallet.evm.address, made["keyId"])).status == "active"

    await row.get_by_test_id("revoke").focus()
    await page.keyboard.press("Enter")
    await dialog.wait_for(state="visible")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.dataset.testid") == "confirm"
    await page.keyboard.press("Enter")
    await portal.idle()
    assert (await stored_key(gateway, portal_wallet.evm.address, made["keyId"])).status == "revoked"
    assert await page.evaluate("document.activeElement.id") == "keys-title"
