"""A real Chromium on the key portal, with a test wallet that signs for real.

Debian's Chromium (/usr/bin/chromium) is driven by Playwright; no browser is
downloaded. The page gets two injected wallets before any of its own code
runs: `window.LeatherProvider` answering as Leather does (JSON-RPC responses,
rejections carrying `error.code` 4001) and `window.ethereum` answering as an
EIP-1193 wallet (`eth_requestAccounts`, `personal_sign` over hex-encoded UTF-8,
errors with `code` 4001). Both sign through a Python binding with
`StacksSigner`/`EvmSigner`, so the gateway verifies real signatures.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.wallets.signing import EvmSigner, StacksSigner
from tests.support.ci import missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# A Leather account also holds Bitcoin addresses; the page must pick the STX one.
DECOY_BTC_ADDRESS = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"


def browser_or_skip() -> None:
    """Skip only on a developer machine without Chromium; never in CI."""
    if not CHROMIUM.exists():
        missing("needs /usr/bin/chromium (apt-get install chromium); CI installs it")


class WalletMode(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass
class TestWallet:
    """What the injected wallets do; the browser asks it through a binding."""

    stacks: StacksSigner
    evm: EvmSigner
    mode: WalletMode = WalletMode.APPROVE
    signed: list[str] = field(default_factory=list)

    __test__ = False  # not a pytest test class

    def answer(self, chain: str, payload: str) -> dict[str, Any]:
        if self.mode is WalletMode.REJECT:
            return {"rejected": True}
        if chain == "stacks":
            self.signed.append(payload)
            return {"signature": self.stacks.sign(payload), "publicKey": self.stacks.public_key_hex}
        # personal_sign hands the wallet hex of the UTF-8 bytes, as EIP-1193 dapps do.
        text = bytes.fromhex(payload.removeprefix("0x")).decode("utf-8")
        self.signed.append(text)
        return {"signature": self.evm.sign(text)}

    def addresses(self) -> dict[str, Any]:
        return {
            "stacks": self.stacks.address,
            "stacksPublicKey": self.stacks.public_key_hex,
            "evm": self.evm.address.lower(),
            "btc": DECOY_BTC_ADDRESS,
        }


WALLET_SCRIPT = """
(() => {
  const rpcId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()));
  const rejectedByUser = (id) => ({
    jsonrpc: "2.0", id, error: { code: 4001, message: "User rejected request" },
  });
  window.LeatherProvider = {
    async request(method, params) {
      const id = rpcId();
      const who = await window.walletgateTestAccounts();
      if (method === "getAddresses") {
        return { jsonrpc: "2.0", id, result: { addresses: [
          { symbol: "BTC", type: "p2wpkh", address: who.btc, publicKey: "02" + "11".repeat(32) },
          { symbol: "STX", address: who.stacks, publicKey: who.stacksPublicKey },
        ] } };
      }
      if (method === "stx_signMessage") {
        const answer = await window.walletgateTestSign("stacks", params.message);
        if (answer.rejected) throw rejectedByUser(id);
        return { jsonrpc: "2.0", id, result: answer };
      }
      throw { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } };
    },
  };
  class ProviderRpcError extends Error {
    constructor(code, message) { super(message); this.code = code; }
  }
  window.ethereum = {
    isMetaMask: false,
    async request(args) {
      const who = await window.walletgateTestAccounts();
      if (args.method === "eth_requestAccounts" || args.method === "eth_accounts") {
        return [who.evm];
      }
      if (args.method === "personal_sign") {
        const [data, address] = args.params;
        if (String(address).toLowerCase() !== who.evm) {
          throw new ProviderRpcError(4100, "The requested account has not been authorized");
        }
        const answer = await window.walletgateTestSign("evm", data);
        if (answer.rejected) throw new ProviderRpcError(4001, "User rejected the request.");
        return answer.signature;
      }
      throw new ProviderRpcError(4200, "Unsupported method " + args.method);
    },
    on() {}, removeListener() {},
  };
})();
"""


def artefact_dir(run_id: str) -> Path:
    """Screenshots go here: WALLETGATE_ARTEFACTS (or WALLETGATE_ARTIFACTS), or a temp dir
    of this run."""
    base = os.environ.get("WALLETGATE_ARTEFACTS") or os.environ.get("WALLETGATE_ARTIFACTS")
    root = Path(base) if base else Path(tempfile.gettempdir()) / f"walletgate-portal-{run_id}"
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass
class Portal:
    """One browser page on the portal, recording every URL the page asked for."""

    page: Any
    base_url: str
    wallet: TestWallet
    shots: Path
    requested: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)

    async def open(self) -> None:
        await self.page.goto(self.base_url + "/portal")
        await self.page.get_by_test_id("connect-stacks").wait_for()

    async def shot(self, name: str, *, full_page: bool = True) -> Path:
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    async def connect(self, chain: str) -> None:
        await self.page.get_by_test_id(f"connect-{chain}").click()
        await self.page.locator("#keys-panel:not([hidden])").wait_for()
        await self.idle()

    async def idle(self) -> None:
        """Wait until the page is no longer waiting on the wallet or the gateway."""
        # A locator, not wait_for_function: the page's CSP forbids string evaluation.
        await self.page.locator("body:not(.busy)").wait_for(state="attached")

    async def error_text(self) -> str:
        error = self.page.get_by_test_id("error")
        await error.wait_for(state="visible")
        return str(await error.inner_text())

    def foreign_requests(self) -> list[str]:
        own = urlsplit(self.base_url).netloc
        return [url for url in self.requested if urlsplit(url).netloc != own]

    async def stored_anywhere(self, secret: str) -> list[str]:
        """Where in the browser's storage the secret is found (should be nowhere)."""
        found = []
        storage = await self.page.evaluate(
            "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),"
            " document.cookie])"
        )
        if secret in storage:
            found.append("web storage or document.cookie")
        cookies = await self.page.context.cookies()
        if any(secret in str(cookie) for cookie in cookies):
            found.append("cookies")
        return found


async def open_browser(playwright: Any) -> Any:
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@asynccontextmanager
async def new_portal(
    browser: Any,
    base_url: str,
    wallet: TestWallet,
    shots: Path,
    viewport: dict[str, int],
    *,
    script: str = WALLET_SCRIPT,
    bindings: dict[str, Any] | None = None,
    color_scheme: str = "light",
) -> AsyncIterator[Portal]:
    """A page on the portal with stand-in wallets: by default the two of
    WALLET_SCRIPT, or `script` with its Python `bindings`."""
    context = await browser.new_context(viewport=viewport, color_scheme=color_scheme)
    page = await context.new_page()
    portal = Portal(page, base_url, wallet, shots)
    page.on("request", lambda request: portal.requested.append(request.url))
    page.on("pageerror", lambda error: portal.script_errors.append(str(error)))
    exposed = bindings or {
        "walletgateTestSign": wallet.answer,
        "walletgateTestAccounts": wallet.addresses,
    }
    for name, function in exposed.items():
        await page.expose_function(name, function)
    await page.add_init_script(script)
    try:
        yield portal
    finally:
        await context.close()


KEY_FORMAT = re.compile(r"^ck_live_[0-9A-Za-z]{49}$")  # prefix, 43 body + 6 checksum
