"""Stand-ins for several wallets at once, each signing for real through Python.

A Leather-like and an Xverse-like Stacks provider listed in
`window.btc_providers` (WBIP004), answering the SIP-030 methods each really
answers (@stacks/connect's wallet-support table: Leather `stx_getAddresses`
and no non-standard `publicKey` on `stx_signMessage`; Xverse-like
`wallet_connect` / `stx_getAccounts`, `stx_signMessage` only with the
account's `publicKey`, and no `stx_getAddresses`), and two EVM wallets that
announce themselves by EIP-6963. Each wallet can approve, refuse, answer in
a shape no standard has, or sign with another account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.wallets.signing import EvmSigner, StacksSigner
from tests.support.portal_browser import DECOY_BTC_ADDRESS


class Behaviour(StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"
    ODD_SHAPE = "odd_shape"
    OTHER_ACCOUNT = "other_account"


@dataclass
class StandIn:
    name: str
    signer: StacksSigner | EvmSigner
    other: StacksSigner | EvmSigner  # the wallet's other account
    behaviour: Behaviour = Behaviour.APPROVE
    signed: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.signer.address


@dataclass
class StandIns:
    wallets: dict[str, StandIn]

    def account(self, name: str) -> dict[str, Any]:
        wallet = self.wallets[name]
        return {
            "address": wallet.signer.address.lower()
            if isinstance(wallet.signer, EvmSigner)
            else wallet.signer.address,
            "publicKey": wallet.signer.public_key_hex,
            "btc": DECOY_BTC_ADDRESS,
        }

    def called(self, name: str, method: str) -> None:
        self.wallets[name].methods.append(method)

    def sign(self, name: str, payload: str) -> dict[str, Any]:
        wallet = self.wallets[name]
        if wallet.behaviour is Behaviour.REFUSE:
            return {"refused": True}
        if wallet.behaviour is Behaviour.ODD_SHAPE:
            return {"odd": True}
        signer = wallet.other if wallet.behaviour is Behaviour.OTHER_ACCOUNT else wallet.signer
        if isinstance(signer, EvmSigner):
            text = bytes.fromhex(payload.removeprefix("0x")).decode("utf-8")
            wallet.signed.append(text)
            return {"signature": signer.sign(text)}
        wallet.signed.append(payload)
        return {"signature": signer.sign(payload), "publicKey": signer.public_key_hex}


ICON = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>"
    "<rect width='32' height='32' rx='7' fill='{colour}'/></svg>"
)
LEATHER, XVERSE = "Leather", "Xverse Wallet"
EVM_FIRST, EVM_SECOND = "Alpha Wallet", "Beta Wallet"

SCRIPT = """
(() => {
  // Data URLs, base64 as wallets publish them (WBIP004, EIP-6963).
  const icon = (colour) => "data:image/svg+xml;base64," + btoa(%(icon)s.replace("{colour}", colour));
  const rpcId = () => String(Math.random());
  const account = (name) => window.walletgateStandInAccount(name);
  const sign = (name, payload) => window.walletgateStandInSign(name, payload);
  const called = (name, method) => window.walletgateStandInCalled(name, method);

  // Leather-like: JSON-RPC answers, errors thrown whole.
  window.LeatherProvider = {
    isLeather: true,
    async request(method, params) {
      const id = rpcId();
      await called(%(leather)s, method);
      const who = await account(%(leather)s);
      if (method === "stx_getAddresses" || method === "getAddresses") {
        return { jsonrpc: "2.0", id, result: { addresses: [
          { symbol: "BTC", type: "p2wpkh", address: who.btc, publicKey: "02" + "11".repeat(32) },
          { symbol: "STX", address: who.address, publicKey: who.publicKey },
        ] } };
      }
      if (method === "stx_signMessage") {
        if (params && "publicKey" in params) {
          throw { jsonrpc: "2.0", id, error: { code: -32602, message: "Unexpected publicKey" } };
        }
        const answer = await sign(%(leather)s, params.message);
        if (answer.refused) throw { jsonrpc: "2.0", id, error: { code: 4001, message: "User rejected request" } };
        if (answer.odd) return { jsonrpc: "2.0", id, result: { signed: "yes" } };
        return { jsonrpc: "2.0", id, result: answer };
      }
      throw { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } };
    },
  };

  // Xverse-like: detected by its extra methods; errors as JSON-RPC answers.
  window.XverseProviders = { BitcoinProvider: {
    signMultipleTransactions() {},
    createRepeatInscriptions() {},
    async request(method, params) {
      const id = rpcId();
      await called(%(xverse)s, method);
      const who = await account(%(xverse)s);
      const stacks = { address: who.address, publicKey: who.publicKey, purpose: "stacks", addressType: "stacks" };
      if (method === "wallet_connect") {
        return { jsonrpc: "2.0", id, result: { walletType: "software", addresses: [
          { address: who.btc, publicKey: "02" + "22".repeat(32), purpose: "payment", addressType: "p2wpkh" },
          stacks,
        ] } };
      }
      if (method === "stx_getAccounts") return { jsonrpc: "2.0", id, result: { addresses: [stacks] } };
      if (method === "stx_signMessage") {
        if (!params || params.publicKey !== who.publicKey) {
          return { jsonrpc: "2.0", id, error: { code: -32602, message: "publicKey is required" } };
        }
        const answer = await sign(%(xverse)s, params.message);
        if (answer.refused) return { jsonrpc: "2.0", id, error: { code: -32000, message: "User rejected" } };
        if (answer.odd) return { jsonrpc: "2.0", id, result: "signed" };
        return answer;  // this one answers without the {result: …} wrapper
      }
      return { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } };
    },
  } };
  window.btc_providers = [
    { id: "LeatherProvider", name: %(leather)s, icon: icon("#f5f1ed") },
    { id: "XverseProviders.BitcoinProvider", name: %(xverse)s, icon: icon("#ee7a30") },
  ];

  class ProviderRpcError extends Error {
    constructor(code, message) { super(message); this.code = code; }
  }
  const evmWallet = (name) => ({
    async request(args) {
      await called(name, args.method);
      const who = await account(name);
      if (args.method === "eth_requestAccounts" || args.method === "eth_accounts") return [who.address];
      if (args.method === "personal_sign") {
        if (String(args.params[1]).toLowerCase() !== who.address) {
          throw new ProviderRpcError(4100, "The requested account has not been authorized");
        }
        const answer = await sign(name, args.params[0]);
        if (answer.refused) throw new ProviderRpcError(4001, "User rejected the request.");
        if (answer.odd) return { signature: answer };
        return answer.signature;
      }
      throw new ProviderRpcError(4200, "Unsupported method " + args.method);
    },
    on() {}, removeListener() {},
  });
  const announced = [
    { info: { uuid: "0b4e1a3e-0000-4000-8000-000000000001", name: %(first)s, icon: icon("#2563eb"), rdns: "test.alpha" }, provider: evmWallet(%(first)s) },
    { info: { uuid: "0b4e1a3e-0000-4000-8000-000000000002", name: %(second)s, icon: icon("#db2777"), rdns: "test.beta" }, provider: evmWallet(%(second)s) },
  ];
  const announce = () => {
    for (const detail of announced) {
      window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze(detail) }));
    }
  };
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
  // The last extension to load also takes window.ethereum; discovery must not depend on it.
  window.ethereum = announced[0].provider;
})();
"""


def stand_in_script() -> str:
    import json

    return SCRIPT % {
        "icon": json.dumps(ICON),
        "leather": json.dumps(LEATHER),
        "xverse": json.dumps(XVERSE),
        "first": json.dumps(EVM_FIRST),
        "second": json.dumps(EVM_SECOND),
    }


def stand_ins(stacks_signers: list[StacksSigner], evm_signers: list[EvmSigner]) -> StandIns:
    """Leather and Xverse on the first two Stacks keys, the EVM wallets on the first
    two EVM keys; each wallet's 'other account' is the last key of its family."""
    leather, xverse, stacks_other = stacks_signers
    first, second, evm_other = evm_signers
    return StandIns(
        {
            LEATHER: StandIn(LEATHER, leather, stacks_other),
            XVERSE: StandIn(XVERSE, xverse, stacks_other),
            EVM_FIRST: StandIn(EVM_FIRST, first, evm_other),
            EVM_SECOND: StandIn(EVM_SECOND, second, evm_other),
        }
    )
