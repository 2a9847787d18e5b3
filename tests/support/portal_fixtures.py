"""Fixtures of the key portal's browser tests (a pytest plugin).

The tests/e2e/test_portal_*.py modules load it with `pytest_plugins` and never
import it, so pytest can rewrite its asserts. Screenshots of every step are
saved under one directory per run, printed once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from gateway.wallets.signing import EvmSigner, StacksSigner
from tests.conftest import RunningGateway
from tests.support.portal_browser import (
    DESKTOP,
    Portal,
    TestWallet,
    artefact_dir,
    browser_or_skip,
    new_portal,
    open_browser,
)
from tests.support.portal_steps import PortalFactory
from tests.support.portal_wallets import StandIns, stand_in_script, stand_ins


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
def portal_wallet(stacks_signer: StacksSigner, evm_signer: EvmSigner) -> TestWallet:
    return TestWallet(stacks_signer, evm_signer)


@pytest.fixture
def wallet_stand_ins(stacks_signer: StacksSigner, evm_signer: EvmSigner) -> StandIns:
    """Leather, Xverse and two EIP-6963 wallets, each on an account of its own."""
    stacks = [stacks_signer, StacksSigner("44" * 32 + "01"), StacksSigner("55" * 32 + "01")]
    evm = [EvmSigner("22" * 32), evm_signer, EvmSigner("33" * 32)]
    return stand_ins(stacks, evm)


@pytest.fixture
async def open_portal(
    browser: Any, portal_wallet: TestWallet, shots_root: Path, request: pytest.FixtureRequest
) -> AsyncIterator[PortalFactory]:
    """Factory: open_portal(gateway, viewport=DESKTOP) -> a Portal on /portal."""
    shots = shots_root / request.node.name.replace("[", "-").rstrip("]")
    shots.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as pages:

        async def start(
            gw: RunningGateway,
            viewport: dict[str, int] = DESKTOP,
            *,
            stand_ins: StandIns | None = None,
            color_scheme: str = "light",
        ) -> Portal:
            extra: dict[str, Any] = {"color_scheme": color_scheme}
            if stand_ins is not None:
                extra["script"] = stand_in_script()
                extra["bindings"] = {
                    "walletgateStandInAccount": stand_ins.account,
                    "walletgateStandInSign": stand_ins.sign,
                    "walletgateStandInCalled": stand_ins.called,
                }
            portal = await pages.enter_async_context(
                new_portal(browser, gw.url, portal_wallet, shots, viewport, **extra)
            )
            await portal.open()
            return portal

        yield start
