"""The key portal in a real browser: Debian's Chromium, a real gateway and backend.

The injected test wallets behave like Leather and an EIP-1193 wallet and sign
with real keys; the gateway verifies those signatures as for any client.
Screenshots of every step are saved (path printed once per run).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import ApiError
from gateway.keys.model import KeyStatus, Permission
from gateway.wallets import parse_wallet_address
from gateway.wallets.signing import EvmSigner, StacksSigner
from tests.conftest import GatewayFactory, RunningGateway, create_api_key, create_order
from tests.support.portal_browser import (
    DESKTOP,
    KEY_FORMAT,
    PHONE,
    Portal,
    TestWallet,
    WalletMode,
    artefact_dir,
    browser_or_skip,
    new_portal,
    open_browser,
)

CHAINS = ("stacks", "evm")
PortalFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def shots_root(run_id: str, pytestconfig: pytest.Config) -> Path:
    root = artefact_dir(run_id)
    # Printed past output capture, so every run says where its screenshots are.
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nkey portal screenshots: {root}")
    return root


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    browser_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await open_browser(playwright)
        yield launched
        await launched.close()


@pytest.fixture
def wallet(stacks_signer: StacksSigner, evm_signer: EvmSigner) -> TestWallet:
    return TestWallet(stacks_signer, evm_signer)


@pytest.fixture
async def open_portal(
    browser: Any, wallet: TestWallet, shots_root: Path, request: pytest.FixtureRequest
) -> AsyncIterator[PortalFactory]:
    """Factory: open_portal(gateway, viewport=DESKTOP) -> a Portal on /portal."""
    shots = shots_root / request.node.name.replace("[", "-").rstrip("]")
    shots.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as pages:

        async def start(gw: RunningGateway, viewport: dict[str, int] = DESKTOP) -> Portal:
            portal = await pages.enter_async_context(
                new_portal(browser, gw.url, wallet, shots, viewport)
            )
            await portal.open()
            return portal

        yield start


def signer_of(wallet: TestWallet, chain: str) -> StacksSigner | EvmSigner:
    return wallet.stacks if chain == "stacks" else wallet.evm


async def stored_key(gw: RunningGateway, address: str, key_id: str) -> Any:
    return await gw.gw.keys.get_for(parse_wallet_address(address).canonical, key_id)


async def create_in_page(portal: Portal, name: str, *, cancel: bool = True) -> str:
    page = portal.page
    await page.get_by_test_id("key-name").fill(name)
    if not cancel:
        await page.get_by_test_id("perm-cancel").uncheck()
    await page.get_by_test_id("create-key").click()
    await portal.idle()
    return str(await page.get_by_test_id("new-key").inner_text())


async def assert_key_gone(portal: Portal, plaintext: str) -> None:
    assert plaintext not in await portal.page.content()
    assert await portal.stored_anywhere(plaintext) == []


@pytest.mark.parametrize("chain", CHAINS)
async def test_every_flow_with_a_real_wallet_signature(
    chain: str, gateway: RunningGateway, open_portal: PortalFactory, wallet: TestWallet
) -> None:
    portal = await open_portal(gateway)
    page = portal.page
    await portal.shot("01-connect")

    await portal.connect(chain)
    address = signer_of(wallet, chain).address
    assert (await page.get_by_test_id("address").get_attribute("title")).lower() == address.lower()
    assert await page.get_by_test_id("key-row").count() == 0
    assert '"action":"list_api_keys"' in wallet.signed[-1]
    await portal.shot("02-connected-no-keys")

    # Create with every optional field.
    await page.get_by_test_id("key-name").fill("Market maker")
    await page.get_by_test_id("perm-cancel").uncheck()
    await page.locator("details.advanced summary").click()
    await page.get_by_label("IP allowlist").fill("127.0.0.1/32, 10.0.0.0/8")
    next_year = dt.date.today().year + 1
    await page.get_by_label("Expires on").fill(f"{next_year}-06-30")
    await page.get_by_label("Requests per minute").fill("40")
    await portal.shot("03-create-form")
    await page.get_by_test_id("create-key").click()
    await portal.idle()
    plaintext = str(await page.get_by_test_id("new-key").inner_text())
    assert KEY_FORMAT.match(plaintext), plaintext
    await portal.shot("04-new-key-shown-once")

    key = await gateway.gw.keys.authenticate(plaintext)
    assert key.name == "Market maker"
    assert key.permissions == {Permission.CREATE, Permission.EXECUTE}
    assert key.rate_limit == 40
    assert key.ip_allowlist == ("127.0.0.1/32", "10.0.0.0/8")
    assert key.expires_at == dt.datetime(next_year, 6, 30, 23, 59, 59, tzinfo=dt.UTC)
    row = page.locator(f'[data-testid="key-row"][data-key-id="{key.id}"]')
    assert "Market maker" in await row.inner_text()
    assert await portal.stored_anywhere(plaintext) == []

    await page.get_by_role("button", name="I have saved it").click()
    await assert_key_gone(portal, plaintext)

    # Rotate with a grace period: the old key keeps working, the new one is shown once.
    await row.get_by_test_id("rotate").click()
    await portal.shot("05-rotate-confirm")
    await page.get_by_label("Keep the old key working for").select_option("3600")
    await page.get_by_test_id("confirm").click()
    await portal.idle()
    rotated = str(await page.get_by_test_id("new-key").inner_text())
    assert KEY_FORMAT.match(rotated) and rotated != plaintext
    await portal.shot("06-rotated")
    new_key = await gateway.gw.keys.authenticate(rotated)
    assert (new_key.name, new_key.rate_limit) == ("Market maker", 40)
    old = await stored_key(gateway, address, key.id)
    assert old.status == KeyStatus.ACTIVE and old.revoke_at is not None
    await gateway.gw.keys.authenticate(plaintext)  # still valid during the grace

    # Revoke with confirmation.
    new_row = page.locator(f'[data-testid="key-row"][data-key-id="{new_key.id}"]')
    await new_row.get_by_test_id("revoke").click()
    await portal.shot("07-revoke-confirm")
    await page.get_by_test_id("confirm").click()
    await portal.idle()
    assert (await stored_key(gateway, address, new_key.id)).status == KeyStatus.REVOKED
    with pytest.raises(ApiError):
        await gateway.gw.keys.authenticate(rotated)
    assert "Revoked" in await new_row.inner_text()
    assert await new_row.get_by_test_id("revoke").count() == 0
    await portal.shot("08-revoked")

    # Never again: not after a reload, not in any storage, not in the listing.
    await page.reload()
    await assert_key_gone(portal, rotated)
    await portal.connect(chain)
    assert await page.get_by_test_id("key-row").count() == 2
    html = await page.content()
    assert plaintext not in html and rotated not in html
    await portal.shot("09-listed-after-reload")
    assert portal.foreign_requests() == []
    assert portal.script_errors == []


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


@pytest.mark.parametrize("chain", CHAINS)
async def test_wallet_refusing_to_sign_is_said(
    chain: str, gateway: RunningGateway, open_portal: PortalFactory, wallet: TestWallet
) -> None:
    portal = await open_portal(gateway)
    await portal.connect(chain)
    wallet.mode = WalletMode.REJECT
    await portal.page.get_by_test_id("key-name").fill("Never made")
    await portal.page.get_by_test_id("create-key").click()
    text = await portal.error_text()
    assert "refused to sign" in text
    await portal.shot("wallet-refused")
    address = signer_of(wallet, chain).address
    assert await gateway.gw.keys.list_for(parse_wallet_address(address).canonical) == []


async def test_rate_limit_is_said_with_the_wait(
    start_gateway: GatewayFactory, open_portal: PortalFactory
) -> None:
    gw = await start_gateway(rate_limits={"management_per_minute": 1})
    portal = await open_portal(gw)
    await portal.connect("evm")
    await portal.page.get_by_role("button", name="Refresh").click()
    text = await portal.error_text()
    remaining = 60 - int(gw.clock()) % 60
    assert "Too many requests" in text
    assert f"Try again in {remaining} second" in text
    await portal.shot("rate-limited")


async def test_expired_signature_is_said(
    gateway: RunningGateway, open_portal: PortalFactory
) -> None:
    portal = await open_portal(gateway)
    await portal.connect("stacks")
    gateway.clock.advance(3600)  # the wallet's timestamps are now an hour old
    await portal.page.get_by_role("button", name="Refresh").click()
    assert "signature expired" in (await portal.error_text()).lower()
    await portal.shot("signature-expired")


async def test_network_down_is_said(gateway: RunningGateway, open_portal: PortalFactory) -> None:
    portal = await open_portal(gateway)
    await portal.connect("evm")
    await portal.page.route("**/api/v1/api-keys", lambda route: route.abort("internetdisconnected"))
    await portal.page.get_by_role("button", name="Refresh").click()
    assert "Cannot reach the gateway" in await portal.error_text()


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


async def test_phone_layout_fits_and_events_hide_when_unavailable(
    gateway: RunningGateway, open_portal: PortalFactory, wallet: TestWallet
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

    # Activity is offered only when the gateway has the events endpoint.
    async with gateway.client.get(
        gateway.at("/api/v1/api-keys/key_0000000000000000/events")
    ) as probe:
        available = probe.status != 404
    activity = page.get_by_role("button", name="Activity of Phone bot")
    assert await activity.count() == (1 if available else 0)
    if available:
        await activity.click()
        await portal.idle()
        assert await page.locator(".events-row").count() == 1
        assert '"action":"list_api_key_events"' in wallet.signed[-1]


async def test_overview_shows_usage_and_every_status(
    gateway: RunningGateway, open_portal: PortalFactory, wallet: TestWallet
) -> None:
    """Keys made elsewhere (a bot's own client) show up with their usage."""
    signer = wallet.stacks
    bot = await create_api_key(gateway, signer, "Market maker", rateLimit=60)
    await create_api_key(gateway, signer, "Read-only dashboard", permissions=("execute",))
    old = await create_api_key(gateway, signer, "Old laptop")
    for _ in range(3):
        await create_order(gateway, signer, api_key=bot["apiKey"])
    async with gateway.client.get(
        gateway.at("/api/v1/orders/uuid-missing"), headers={"X-API-Key": bot["apiKey"]}
    ) as missing:
        assert missing.status == 404
    await gateway.gw.keys.revoke_for(parse_wallet_address(signer.address).canonical, old["keyId"])
    await wait_for_usage(gateway, signer.address, bot["keyId"], 4)

    portal = await open_portal(gateway)
    await portal.connect("stacks")
    row = portal.page.locator(f'[data-testid="key-row"][data-key-id="{bot["keyId"]}"]')
    assert "4 req · 1 failed" in await row.inner_text()
    revoked = portal.page.locator(f'[data-testid="key-row"][data-key-id="{old["keyId"]}"]')
    assert "Revoked" in await revoked.inner_text()
    assert await portal.page.get_by_test_id("key-row").count() == 3
    await portal.shot("overview")
    made = await create_in_page(portal, "Arbitrage bot")
    assert KEY_FORMAT.match(made)
    assert await portal.page.get_by_test_id("key-row").count() == 4
    await portal.page.evaluate("window.scrollTo(0, 0)")
    await portal.shot("overview-new-key", full_page=False)  # the README's picture


async def wait_for_usage(gw: RunningGateway, address: str, key_id: str, total: int) -> None:
    """Usage is flushed in batches: wait (bounded) until the store has it."""
    for _ in range(100):
        key = await stored_key(gw, address, key_id)
        if key.usage.to_json()["totalRequests"] >= total:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("usage was never flushed")


@pytest.mark.parametrize("shape", ["list", "map"])
async def test_seven_day_chart_from_hourly_usage(
    shape: str, gateway: RunningGateway, open_portal: PortalFactory, wallet: TestWallet
) -> None:
    """`usageStats.hourly` (per hour, by outcome) becomes the 7-day chart."""
    made = await create_api_key(gateway, wallet.stacks, "Hourly bot")
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hours = [
        (now, {"success": 5, "client_error": 1, "rate_limited": 1, "server_error": 0}),
        (now - dt.timedelta(days=2), {"success": 3, "client_error": 0, "rate_limited": 0}),
        (now - dt.timedelta(days=30), {"success": 100}),  # older than 7 days: not shown
    ]
    iso = [(at.isoformat().replace("+00:00", "Z"), counts) for at, counts in hours]
    hourly: Any = [{"hour": at, **counts} for at, counts in iso] if shape == "list" else dict(iso)

    async def with_hourly(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        for key in body["apiKeys"]:
            key["usageStats"]["hourly"] = hourly
        await route.fulfill(response=response, json=body)

    portal = await open_portal(gateway)
    await portal.page.route("**/api/v1/api-keys", with_hourly)
    await portal.connect("stacks")
    row = portal.page.locator(f'[data-testid="key-row"][data-key-id="{made["keyId"]}"]')
    assert "10 req · 2 failed, 7 days" in await row.inner_text()
    assert await row.locator("svg.spark rect.bar-ok").count() == 2
    await portal.shot(f"hourly-{shape}")


async def test_revoke_by_keyboard_and_escape_cancels(
    gateway: RunningGateway, open_portal: PortalFactory, wallet: TestWallet
) -> None:
    made = await create_api_key(gateway, wallet.evm, "Keyboard bot")
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
    assert (await stored_key(gateway, wallet.evm.address, made["keyId"])).status == "active"

    await row.get_by_test_id("revoke").focus()
    await page.keyboard.press("Enter")
    await dialog.wait_for(state="visible")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.dataset.testid") == "confirm"
    await page.keyboard.press("Enter")
    await portal.idle()
    assert (await stored_key(gateway, wallet.evm.address, made["keyId"])).status == "revoked"
    assert await page.evaluate("document.activeElement.id") == "keys-title"
