"""Every wallet in the browser: Stacks providers listed by WBIP004 and spoken
to the way each answers SIP-030, EVM wallets announced by EIP-6963, a choice
when there are several, and a sentence for each way a wallet can go wrong,
with nothing sent. The stand-ins sign for real (tests/support/portal_wallets.py).
"""

from __future__ import annotations

import pytest

from gateway.wallets import parse_wallet_address
from tests.conftest import GatewayFactory, RunningGateway
from tests.support.portal_browser import KEY_FORMAT, Portal
from tests.support.portal_steps import PortalFactory, create_in_page
from tests.support.portal_wallets import (
    EVM_FIRST,
    EVM_SECOND,
    LEATHER,
    XVERSE,
    Behaviour,
    StandIns,
)

# The portal fixtures (browser, open_portal, portal_wallet, shots_root, wallet_stand_ins).
pytest_plugins = ["tests.support.portal_fixtures"]

FAMILY = {LEATHER: "stacks", XVERSE: "stacks", EVM_FIRST: "evm", EVM_SECOND: "evm"}


async def choose(portal: Portal, family: str, name: str) -> None:
    page = portal.page
    await page.get_by_test_id(f"connect-{family}").click()
    option = page.locator(f'[data-testid="wallet-option"][data-wallet-name="{name}"]')
    await option.wait_for()
    await option.click()
    await page.locator("#keys-panel:not([hidden])").wait_for()
    await portal.idle()


def key_api_calls(portal: Portal) -> list[str]:
    return [url for url in portal.requested if "/api/v1/api-keys" in url]


async def test_the_owner_picks_the_second_evm_wallet_and_its_keys_are_made(
    gateway: RunningGateway, open_portal: PortalFactory, wallet_stand_ins: StandIns
) -> None:
    portal = await open_portal(gateway, stand_ins=wallet_stand_ins)
    page = portal.page
    await page.get_by_test_id("connect-evm").click()
    options = page.get_by_test_id("wallet-option")
    await options.first.wait_for()
    names = [await o.get_attribute("data-wallet-name") for o in await options.all()]
    assert names == [EVM_FIRST, EVM_SECOND]  # announced by EIP-6963, window.ethereum not twice
    icons = options.locator("img.wallet-icon")
    assert await icons.count() == 2  # each wallet's own icon, drawn (a data: URL the CSP allows)
    assert all([await icon.evaluate("i => i.naturalWidth > 0") for icon in await icons.all()])
    await portal.shot("evm-chooser")

    await options.nth(1).click()
    await page.locator("#keys-panel:not([hidden])").wait_for()
    await portal.idle()
    second = wallet_stand_ins.wallets[EVM_SECOND]
    shown = await page.get_by_test_id("address").get_attribute("title")
    assert shown == second.address.lower()
    made = await create_in_page(portal, "Beta bot")
    assert KEY_FORMAT.match(made)
    key = await gateway.gw.keys.authenticate(made)
    assert key.wallet == parse_wallet_address(second.address).canonical
    assert [m for m in wallet_stand_ins.wallets[EVM_FIRST].methods if m != "eth_accounts"] == []
    assert [s.split('"action":"')[1].split('"')[0] for s in second.signed] == [
        "list_api_keys",
        "create_api_key",
    ]
    assert portal.script_errors == []


@pytest.mark.parametrize(
    ("name", "methods"),
    [
        # @stacks/connect's table: Leather answers stx_getAddresses and takes no publicKey.
        (LEATHER, ["stx_getAddresses", "stx_signMessage", "stx_signMessage"]),
        # Xverse-like: wallet_connect grants the address; stx_signMessage needs the publicKey.
        (XVERSE, ["wallet_connect", "stx_signMessage", "stx_signMessage"]),
    ],
)
async def test_stacks_wallets_listed_by_wbip004_each_spoken_to_its_way(
    name: str,
    methods: list[str],
    gateway: RunningGateway,
    open_portal: PortalFactory,
    wallet_stand_ins: StandIns,
) -> None:
    portal = await open_portal(gateway, stand_ins=wallet_stand_ins)
    page = portal.page
    await page.get_by_test_id("connect-stacks").click()
    options = page.get_by_test_id("wallet-option")
    await options.first.wait_for()
    assert [await o.get_attribute("data-wallet-name") for o in await options.all()] == [
        LEATHER,
        XVERSE,
    ]
    await portal.shot(f"stacks-chooser-{name.split()[0].lower()}")
    await choose_from_open_chooser(portal, name)
    wallet = wallet_stand_ins.wallets[name]
    assert await page.get_by_test_id("address").get_attribute("title") == wallet.address
    made = await create_in_page(portal, f"{name} bot")
    key = await gateway.gw.keys.authenticate(made)
    assert key.wallet == parse_wallet_address(wallet.address).canonical
    assert wallet.methods == methods
    other = LEATHER if name == XVERSE else XVERSE
    assert wallet_stand_ins.wallets[other].methods == []
    assert portal.script_errors == []


async def choose_from_open_chooser(portal: Portal, name: str) -> None:
    option = portal.page.locator(f'[data-testid="wallet-option"][data-wallet-name="{name}"]')
    await option.click()
    await portal.page.locator("#keys-panel:not([hidden])").wait_for()
    await portal.idle()


SAID = {
    Behaviour.REFUSE: "refused to sign",
    Behaviour.ODD_SHAPE: "answered in a way this page does not understand",
    Behaviour.OTHER_ACCOUNT: "signed with another account",
}


@pytest.mark.parametrize("behaviour", list(SAID))
@pytest.mark.parametrize("name", [LEATHER, XVERSE, EVM_SECOND])
async def test_a_wallet_that_goes_wrong_is_said_and_nothing_is_sent(
    name: str,
    behaviour: Behaviour,
    gateway: RunningGateway,
    open_portal: PortalFactory,
    wallet_stand_ins: StandIns,
) -> None:
    portal = await open_portal(gateway, stand_ins=wallet_stand_ins)
    await choose(portal, FAMILY[name], name)
    wallet = wallet_stand_ins.wallets[name]
    sent = key_api_calls(portal)
    assert len(sent) == 1  # the signed list on connecting

    wallet.behaviour = behaviour
    await portal.page.get_by_test_id("key-name").fill("Never made")
    await portal.page.get_by_test_id("create-key").click()
    text = await portal.error_text()
    assert SAID[behaviour] in text
    assert "nothing was sent" in text.lower()
    assert key_api_calls(portal) == sent  # the gateway was never asked
    owner = parse_wallet_address(wallet.address).canonical
    assert await gateway.gw.keys.list_for(owner) == []
    assert await portal.page.get_by_test_id("new-key").inner_text() == ""
    await portal.shot(f"wallet-{behaviour.value}")


async def test_a_stacks_account_of_another_network_is_said_and_nothing_is_sent(
    start_gateway: GatewayFactory, open_portal: PortalFactory, wallet_stand_ins: StandIns
) -> None:
    gw = await start_gateway(signatures={"stacks_network": "testnet"})
    portal = await open_portal(gw, stand_ins=wallet_stand_ins)
    await portal.page.get_by_test_id("connect-stacks").click()
    await choose_from_chooser_only(portal, LEATHER)
    text = await portal.error_text()
    assert "another network" in text and "Stacks testnet" in text
    assert key_api_calls(portal) == []
    assert wallet_stand_ins.wallets[LEATHER].signed == []
    assert await portal.page.locator("#keys-panel").is_hidden()


async def choose_from_chooser_only(portal: Portal, name: str) -> None:
    option = portal.page.locator(f'[data-testid="wallet-option"][data-wallet-name="{name}"]')
    await option.click()
    await portal.idle()
