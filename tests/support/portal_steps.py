"""Steps shared by the key portal's browser tests: store reads and page actions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gateway.wallets import parse_wallet_address
from gateway.wallets.signing import EvmSigner, StacksSigner
from tests.conftest import RunningGateway
from tests.support.portal_browser import Portal, TestWallet

CHAINS = ("stacks", "evm")
PortalFactory = Callable[..., Any]


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


async def wait_for_usage(gw: RunningGateway, address: str, key_id: str, total: int) -> None:
    """Usage is flushed in batches: wait (bounded) until the store has it."""
    for _ in range(100):
        key = await stored_key(gw, address, key_id)
        if key.usage.to_json()["totalRequests"] >= total:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("usage was never flushed")
