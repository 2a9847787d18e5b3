// EVM wallets without a wallet library: every wallet that announces itself
// by EIP-6963 (with its name and icon), and the EIP-1193 `window.ethereum`
// when none does. Accounts by `eth_requestAccounts`, signatures by
// `personal_sign` over the hex of the message's UTF-8 bytes (EIP-191).

import { PortalError, WalletAnswerError, walletError } from "./errors.js";
import { iconOf } from "./dom.js";

const announced = new Map();

// Listening from the start: a wallet may announce itself before it is asked.
window.addEventListener("eip6963:announceProvider", (event) => {
  const detail = event.detail;
  if (!detail || !detail.info || !detail.provider || typeof detail.provider.request !== "function") return;
  const key = String(detail.info.uuid || detail.info.rdns || detail.info.name);
  announced.set(key, { family: "evm", id: key, name: String(detail.info.name || "EVM wallet"), icon: iconOf(detail.info.icon), provider: detail.provider });
});

/** Every EVM wallet in this browser: the announced ones, else window.ethereum. */
export async function discoverEvm() {
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  // Wallets answer the request from its event handler; a task later all have.
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (announced.size) return [...announced.values()];
  const injected = window.ethereum;
  if (!injected || typeof injected.request !== "function") return [];
  return [{ family: "evm", id: "window.ethereum", name: "Browser wallet", icon: null, provider: injected }];
}

export async function connectEvm(wallet) {
  let accounts;
  try {
    accounts = await wallet.provider.request({ method: "eth_requestAccounts" });
    if (!Array.isArray(accounts)) throw new WalletAnswerError("its accounts are not a list");
  } catch (err) {
    throw walletError(err, "share its address", wallet.name);
  }
  if (typeof accounts[0] !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(accounts[0])) {
    throw new PortalError(`${wallet.name} shared no account. Unlock it, select an account and try again.`);
  }
  return { chain: "evm", address: accounts[0], publicKey: null };
}

function utf8Hex(text) {
  const bytes = new TextEncoder().encode(text);
  return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function signEvm(wallet, account, message) {
  let signature;
  try {
    signature = await wallet.provider.request({ method: "personal_sign", params: [utf8Hex(message), account.address] });
    if (typeof signature !== "string") throw new WalletAnswerError("its signature is not text");
  } catch (err) {
    throw walletError(err, "sign the request", wallet.name);
  }
  return { signature, publicKey: null };
}
