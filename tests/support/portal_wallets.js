// Stand-ins for several wallets at once (tests/support/portal_wallets.py says
// what each does). Injected before the page's own code; STAND_IN (names and
// the icon template) is defined by the Python side in front of this file.
(() => {
  // Data URLs, base64 as wallets publish them (WBIP004, EIP-6963).
  const icon = (colour) => "data:image/svg+xml;base64," + btoa(STAND_IN.icon.replace("{colour}", colour));
  const rpcId = () => String(Math.random());
  const account = (name) => window.walletgateStandInAccount(name);
  const sign = (name, payload) => window.walletgateStandInSign(name, payload);
  const called = (name, method) => window.walletgateStandInCalled(name, method);

  // Leather-like: JSON-RPC answers, errors thrown whole.
  window.LeatherProvider = {
    isLeather: true,
    async request(method, params) {
      const id = rpcId();
      await called(STAND_IN.leather, method);
      const who = await account(STAND_IN.leather);
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
        const answer = await sign(STAND_IN.leather, params.message);
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
      await called(STAND_IN.xverse, method);
      const who = await account(STAND_IN.xverse);
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
        const answer = await sign(STAND_IN.xverse, params.message);
        if (answer.refused) return { jsonrpc: "2.0", id, error: { code: -32000, message: "User rejected" } };
        if (answer.odd) return { jsonrpc: "2.0", id, result: "signed" };
        return answer;  // this one answers without the {result: …} wrapper
      }
      return { jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } };
    },
  } };
  window.btc_providers = [
    { id: "LeatherProvider", name: STAND_IN.leather, icon: icon("#f5f1ed") },
    { id: "XverseProviders.BitcoinProvider", name: STAND_IN.xverse, icon: icon("#ee7a30") },
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
    { info: { uuid: "0b4e1a3e-0000-4000-8000-000000000001", name: STAND_IN.first, icon: icon("#2563eb"), rdns: "test.alpha" }, provider: evmWallet(STAND_IN.first) },
    { info: { uuid: "0b4e1a3e-0000-4000-8000-000000000002", name: STAND_IN.second, icon: icon("#db2777"), rdns: "test.beta" }, provider: evmWallet(STAND_IN.second) },
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
