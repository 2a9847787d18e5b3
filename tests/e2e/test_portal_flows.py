"""The key portal's flows in a real browser (Debian's Chromium), both chains.

The injected test wallets behave like Leather and an EIP-1193 wallet and sign
with real keys; the real gateway verifies those signatures as for any client.
"""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.keys.audit import Origin
from gateway.keys.errors import InactiveApiKey
from gateway.keys.model import KeyStatus, Permission
from gateway.wallets import parse_wallet_address
from tests.conftest import RunningGateway, create_api_key, create_order
from tests.support.portal_browser import KEY_FORMAT, TestWallet
from tests.support.portal_steps import (
    CHAINS,
    PortalFactory,
    assert_key_gone,
    create_in_page,
    signer_of,
    stored_key,
    wait_for_usage,
)

# The portal fixtures (browser, open_portal, portal_wallet, shots_root).
pytest_plugins = ["tests.support.portal_fixtures"]


@pytest.mark.parametrize("chain", CHAINS)
async def test_every_flow_with_a_real_wallet_signature(
    chain: str, gateway: RunningGateway, open_portal: PortalFactory, portal_wallet: TestWallet
) -> None:
    portal = await open_portal(gateway)
    page = portal.page
    await portal.shot("01-connect")

    await portal.connect(chain)
    address = signer_of(portal_wallet, chain).address
    assert (await page.get_by_test_id("address").get_attribute("title")).lower() == address.lower()
    assert await page.get_by_test_id("key-row").count() == 0
    assert '"action":"list_api_keys"' in portal_wallet.signed[-1]
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
    with pytest.raises(InactiveApiKey):
        await gateway.gw.keys.authenticate(rotated)
    assert "Revoked" in await new_row.inner_text()
    assert await new_row.get_by_test_id("revoke").count() == 0
    await portal.shot("08-revoked")

    # Never again: not after a reload, not in any storage, not in the listing.
    await page.reload()
    await assert_key_gone(portal, rotated)
    await portal.connect(chain)
    # Revoked keys are listed on request.
    assert await page.get_by_test_id("key-row").count() == 1
    await page.get_by_role("button", name="Show revoked keys (1)").click()
    assert await page.get_by_test_id("key-row").count() == 2
    html = await page.content()
    assert plaintext not in html and rotated not in html
    await portal.shot("09-listed-after-reload")
    assert portal.foreign_requests() == []
    assert portal.script_errors == []


async def test_overview_shows_usage_and_every_status(
    gateway: RunningGateway, open_portal: PortalFactory, portal_wallet: TestWallet
) -> None:
    """Keys made elsewhere (a bot's own client) show up with their usage."""
    signer = portal_wallet.stacks
    bot = await create_api_key(gateway, signer, "Market maker", rateLimit=60)
    await create_api_key(gateway, signer, "Read-only dashboard", permissions=("execute",))
    old = await create_api_key(gateway, signer, "Old laptop")
    for _ in range(3):
        await create_order(gateway, signer, api_key=bot["apiKey"])
    async with gateway.client.get(
        gateway.at("/api/v1/orders/uuid-missing"), headers={"X-API-Key": bot["apiKey"]}
    ) as missing:
        assert missing.status == 404
    await gateway.gw.keys.revoke_for(
        parse_wallet_address(signer.address).canonical, old["keyId"], Origin("wallet")
    )
    await wait_for_usage(gateway, signer.address, bot["keyId"], 4)

    portal = await open_portal(gateway)
    await portal.connect("stacks")
    row = portal.page.locator(f'[data-testid="key-row"][data-key-id="{bot["keyId"]}"]')
    assert "4 req · 1 failed" in await row.inner_text()
    revoked = portal.page.locator(f'[data-testid="key-row"][data-key-id="{old["keyId"]}"]')
    assert await revoked.count() == 0  # listed on request
    await portal.page.get_by_role("button", name="Show revoked keys (1)").click()
    assert "Revoked" in await revoked.inner_text()
    assert await portal.page.get_by_test_id("key-row").count() == 3
    await portal.shot("overview")
    made = await create_in_page(portal, "Arbitrage bot")
    assert KEY_FORMAT.match(made)
    await portal.page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=gateway.url
    )
    await portal.page.get_by_role("button", name="Copy").click()
    assert await portal.page.evaluate("navigator.clipboard.readText()") == made
    assert await portal.page.get_by_role("button", name="Copied").count() == 1
    assert await portal.page.get_by_test_id("key-row").count() == 4
    await portal.page.evaluate("window.scrollTo(0, 0)")
    await portal.shot("overview-new-key", full_page=False)  # the README's picture


async def test_seven_day_chart_from_hourly_usage(
    gateway: RunningGateway, open_portal: PortalFactory, portal_wallet: TestWallet
) -> None:
    """The gateway's own `usageStats.hourly` (per hour, by outcome) becomes the 7-day chart."""
    signer = portal_wallet.stacks
    made = await create_api_key(gateway, signer, "Hourly bot")
    for _ in range(2):
        await create_order(gateway, signer, api_key=made["apiKey"])
    for _ in range(3):
        async with gateway.client.get(
            gateway.at("/api/v1/orders/uuid-missing"), headers={"X-API-Key": made["apiKey"]}
        ) as missing:
            assert missing.status == 404
    await wait_for_usage(gateway, signer.address, made["keyId"], 5)

    portal = await open_portal(gateway)
    await portal.connect("stacks")
    row = portal.page.locator(f'[data-testid="key-row"][data-key-id="{made["keyId"]}"]')
    assert "5 req · 3 failed, 7 days" in await row.inner_text()
    assert await row.locator("svg.spark rect.bar-ok").count() == 1
    await portal.shot("hourly")
