// Stacks wallets without a wallet library. Found the way @stacks/connect
// finds them: providers listed under WBIP004 (`id` is the provider's path on
// `window`), plus Leather's and Xverse's globals when they are not listed.
// Spoken to with the SIP-030 `request(method, params)` API and the per-wallet
// differences @stacks/connect's `request()` smooths over (its wallet-support
// table): Leather answers `stx_getAddresses` (`getAddresses` on older
// versions); Xverse-like wallets grant access with `wallet_connect` and list
// Stacks accounts with `stx_getAccounts`; `stx_signMessage` answers
// {signature, publicKey}, and Xverse-like wallets need the account's
// `publicKey` with it. Answers come wrapped in {result: …} or not.

import { PortalError, WalletAnswerError, walletError } from "./errors.js";
import { iconOf } from "./dom.js";

const KNOWN = [
  { id: "LeatherProvider", name: "Leather" },
  { id: "XverseProviders.BitcoinProvider", name: "Xverse" },
];
const METHOD_NOT_FOUND = -32601;

function providerAt(path) {
  return path.split(".").reduce((object, part) => (object == null ? undefined : object[part]), window);
}

function listed() {
  const lists = [window.btc_providers, window.wbip_providers, window.webbtc_stx_providers];
  return lists.flatMap((list) => (Array.isArray(list) ? list : []));
}

/** Every Stacks wallet in this browser, each once. */
export function discoverStacks() {
  const found = [];
  for (const entry of [...listed(), ...KNOWN]) {
    if (!entry || typeof entry.id !== "string") continue;
    const provider = providerAt(entry.id);
    if (!provider || typeof provider.request !== "function") continue;
    if (found.some((wallet) => wallet.provider === provider)) continue;
    found.push({ family: "stacks", id: entry.id, name: String(entry.name || entry.id), icon: iconOf(entry.icon), provider });
  }
  return found;
}

// @stacks/connect's own detection (request.ts): Xverse, or Fordefi, which
// behaves like it.
function isXverseLike(provider) {
  const fordefi = "isFordefi" in provider && !!provider.isFordefi;
  const xverse = "signMultipleTransactions" in provider && "createRepeatInscriptions" in provider && !provider.isLeather && !provider.isFordefi;
  return xverse || fordefi;
}

async function request(wallet, method, params) {
  let response;
  try {
    response = await wallet.provider.request(method, params);
  } catch (err) {
    // A JSON-RPC error response thrown whole (Leather) carries its error inside.
    throw err && typeof err === "object" && "jsonrpc" in err && err.error ? err.error : err;
  }
  if (!response || typeof response !== "object") throw new WalletAnswerError(`${method} answered ${JSON.stringify(response) ?? "nothing"}`);
  if ("error" in response && response.error) throw response.error;
  return "result" in response ? response.result : response;
}

function errorCode(err) {
  return err && typeof err === "object" ? Number(err.code ?? (err.error && err.error.code)) : undefined;
}

const isStacksEntry = (entry) =>
  entry && typeof entry.address === "string" && (entry.symbol === "STX" || entry.purpose === "stacks" || entry.addressType === "stacks" || /^S[PMTN]/.test(entry.address));

// Mainnet addresses start SP/SM, testnet ones ST/SN.
function onNetwork(address, network) {
  if (network !== "mainnet" && network !== "testnet") return true;
  return /^S[PM]/.test(address) === (network === "mainnet");
}

function pickAccount(result, network) {
  const entries = result && (result.addresses || result.accounts);
  if (!Array.isArray(entries)) throw new WalletAnswerError("its answer holds no list of addresses");
  const stacks = entries.filter(isStacksEntry);
  const entry = stacks.find((e) => onNetwork(e.address, network));
  if (!entry && stacks.length) {
    throw new PortalError(`Your wallet shared a Stacks address of another network (${stacks[0].address}); this exchange uses Stacks ${network}. Switch your wallet's network and try again.`);
  }
  return entry || null;
}

async function accountOf(wallet, network) {
  if (isXverseLike(wallet.provider)) {
    const granted = await request(wallet, "wallet_connect");
    return pickAccount(granted, network) || pickAccount(await request(wallet, "stx_getAccounts"), network);
  }
  try {
    return pickAccount(await request(wallet, "stx_getAddresses"), network);
  } catch (err) {
    if (errorCode(err) !== METHOD_NOT_FOUND) throw err;
    return pickAccount(await request(wallet, "getAddresses"), network);
  }
}

export async function connectStacks(wallet, network) {
  let entry;
  try {
    entry = await accountOf(wallet, network);
  } catch (err) {
    throw walletError(err, "share its address", wallet.name);
  }
  if (!entry) throw new PortalError(`${wallet.name} shared no Stacks address. Select a Stacks account in it and try again.`);
  return { chain: "stacks", address: entry.address, publicKey: typeof entry.publicKey === "string" ? entry.publicKey : null };
}

export async function signStacks(wallet, account, message) {
  const xverseLike = isXverseLike(wallet.provider);
  const params = xverseLike && account.publicKey ? { message, publicKey: account.publicKey } : { message };
  let result;
  try {
    result = await request(wallet, "stx_signMessage", params);
    if (!result || typeof result.signature !== "string") throw new WalletAnswerError("its answer holds no signature");
  } catch (err) {
    throw walletError(err, "sign the request", wallet.name);
  }
  return { signature: result.signature, publicKey: typeof result.publicKey === "string" ? result.publicKey : account.publicKey };
}
