// The two wallet families, without any wallet library: Leather's injected
// provider for Stacks and an EIP-1193 provider for EVM addresses.

import { PortalError, walletError } from "./errors.js";

export const wallets = {
  stacks: {
    label: "Stacks",
    async connect() {
      const provider = window.LeatherProvider;
      if (!provider || typeof provider.request !== "function") {
        throw new PortalError("No Leather wallet found in this browser. Install Leather, unlock it and reload this page.");
      }
      let response;
      try {
        response = await provider.request("getAddresses");
      } catch (err) {
        throw walletError(err, "share its address");
      }
      const entries = (response && response.result && response.result.addresses) || [];
      const stx = entries.find((entry) => entry && entry.symbol === "STX");
      if (!stx) throw new PortalError("Your Leather wallet shared no Stacks address. Select a Stacks account and try again.");
      return { chain: "stacks", address: stx.address, publicKey: stx.publicKey || null };
    },
    async sign(wallet, message) {
      let response;
      try {
        response = await window.LeatherProvider.request("stx_signMessage", { message });
      } catch (err) {
        throw walletError(err, "sign the request");
      }
      const result = (response && response.result) || {};
      if (typeof result.signature !== "string") throw new PortalError("Your wallet returned no signature.");
      return { signature: result.signature, publicKey: result.publicKey || wallet.publicKey };
    },
  },
  evm: {
    label: "EVM",
    async connect() {
      const provider = window.ethereum;
      if (!provider || typeof provider.request !== "function") {
        throw new PortalError("No EVM wallet found in this browser. Install one (MetaMask, Rabby, …), unlock it and reload this page.");
      }
      let accounts;
      try {
        accounts = await provider.request({ method: "eth_requestAccounts" });
      } catch (err) {
        throw walletError(err, "share its address");
      }
      if (!Array.isArray(accounts) || typeof accounts[0] !== "string") {
        throw new PortalError("Your wallet shared no account. Unlock it, select an account and try again.");
      }
      return { chain: "evm", address: accounts[0], publicKey: null };
    },
    async sign(wallet, message) {
      let signature;
      try {
        signature = await window.ethereum.request({ method: "personal_sign", params: [utf8Hex(message), wallet.address] });
      } catch (err) {
        throw walletError(err, "sign the request");
      }
      if (typeof signature !== "string") throw new PortalError("Your wallet returned no signature.");
      return { signature, publicKey: null };
    },
  },
};

function utf8Hex(text) {
  const bytes = new TextEncoder().encode(text);
  return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Every signed message names its action and the time it was made (ms); the
