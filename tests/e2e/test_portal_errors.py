"""Every error the key portal can meet is said in words, in a real browser."""

from __future__ import annotations

import pytest

from gateway.wallets import parse_wallet_address
from tests.conftest import GatewayFactory, RunningGateway, create_api_key
from tests.support.portal_browser import TestWallet, WalletMode
from tests.support.portal_steps import (
    CHAINS,
    PortalFactory,
    signer_of,
)

# The portal fixtures (browser, open_portal, portal_wallet, shots_root).
pytest_plugins = ["tests.support.portal_fixtures"]


@pytest.mark.parametrize("chain", CHAINS)
async def test_wallet_refusing_to_sign_is_said(
    chain: str, gateway: RunningGateway, open_portal: PortalFactory, portal_wallet: TestWallet
) -> None:
    portal = await open_portal(gateway)
    await portal.connect(chain)
    portal_wallet.mode = WalletMode.REJECT
    await portal.page.get_by_test_id("key-name").fill("Never made")
    await portal.page.get_by_test_id("create-key").click()
    text = await portal.error_text()
    assert "refused to sign" in text
    await portal.shot("wallet-refused")
    address = signer_of(portal_wallet, chain).address
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


@pytest.mark.parametrize(
    ("chain", "provider", "said"),
    [
        ("stacks", "LeatherProvider", "No Stacks wallet found"),
        ("evm", "ethereum", "No EVM wallet found"),
    ],
)
async def test_missing_wallet_is_said(
    chain: str, provider: str, said: str, gateway: RunningGateway, open_portal: PortalFactory
) -> None:
    portal = await open_portal(gateway)
    await portal.page.evaluate(f"delete window.{provider}")
    await portal.page.get_by_test_id(f"connect-{chain}").click()
    assert said in await portal.error_text()
    assert await portal.page.locator("#keys-panel").is_hidden()


async def test_a_list_that_never_loaded_is_not_shown_as_empty(
    gateway: RunningGateway, open_portal: PortalFactory, portal_wallet: TestWallet
) -> None:
    await create_api_key(gateway, portal_wallet.stacks, "Existing bot")
    portal = await open_portal(gateway)
    portal_wallet.mode = WalletMode.REJECT
    await portal.connect("stacks")
    assert "refused to sign" in await portal.error_text()
    assert "No keys yet" not in await portal.page.locator("#keys-panel").inner_text()

    portal_wallet.mode = WalletMode.APPROVE
    await portal.page.get_by_role("button", name="Refresh").click()
    await portal.idle()
    assert await portal.page.get_by_test_id("key-row").count() == 1
    assert await portal.page.get_by_test_id("error").is_hidden()


async def test_nothing_is_signed_while_the_binding_is_unknown(
    gateway: RunningGateway, open_portal: PortalFactory, portal_wallet: TestWallet
) -> None:
    """Without GET /api/v1/signing the page cannot know the domain to sign for."""
    portal = await open_portal(gateway)
    await portal.page.route("**/api/v1/signing", lambda route: route.abort("internetdisconnected"))
    await portal.page.reload()
    await portal.page.get_by_test_id("connect-evm").click()
    assert "Cannot reach the gateway" in await portal.error_text()
    assert portal_wallet.signed == []
    await portal.page.unroute("**/api/v1/signing")
    await portal.page.get_by_role("button", name="Refresh").click()
    await portal.idle()
    assert await portal.page.get_by_test_id("error").is_hidden()
    assert '"action":"list_api_keys"' in portal_wallet.signed[-1]
