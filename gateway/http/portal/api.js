// Signed calls to this gateway's key-management endpoints.

import { say, shortAddress } from "./dom.js";
import { PortalError, WalletAnswerError, apiError, walletError } from "./errors.js";
import { isSignatureHex } from "./verify.js";
import { families } from "./wallets.js";

const UNKNOWN = Object.freeze({ known: false, domain: null, chains: ["stacks", "evm"], stacksNetwork: null, evmChainId: null });
let binding = null;
let bindingFailure = null; // why the last attempt to read it failed, in words

/** What the gateway signs for (GET api/v1/signing), asked once; public and unsigned. */
export async function signingInfo() {
  if (binding) return binding;
  let response;
  bindingFailure = null;
  try {
    response = await fetch("api/v1/signing", { credentials: "omit", cache: "no-store" });
  } catch {
    return UNKNOWN; // asked again before the next signature
  }
  if (response.status === 404) {
    binding = { ...UNKNOWN, known: true }; // a gateway from before deployment binding
    return binding;
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) bindingFailure = apiError(response.status, body, response.headers);
  if (!response.ok || !body || typeof body !== "object") return UNKNOWN;
  binding = { ...UNKNOWN, ...body, known: true };
  return binding;
}

export async function signed(session, action, fields) {
  const info = await signingInfo();
  // Unknown binding: a message signed without the domain would be refused.
  if (!info.known) {
    throw bindingFailure || new PortalError("Cannot reach the gateway: your connection or the gateway is down. Check your network and try again.");
  }
  // Bound to this deployment when the gateway says so: a message signed for
  // one exchange is refused by every other.
  const domain = typeof info.domain === "string" && info.domain ? { domain: info.domain } : {};
  const message = JSON.stringify({ action, ...fields, ...domain, timestamp: Date.now() });
  say(`Waiting for ${session.wallet.name} to sign…`);
  const family = families[session.account.chain];
  const { signature, publicKey } = await family.sign(session.wallet, session.account, message);
  if (!isSignatureHex(signature)) {
    throw walletError(new WalletAnswerError("its signature is not 65 bytes of hex"), "sign the request", session.wallet.name);
  }
  if (!family.matches(session.account.address, message, signature)) {
    throw new PortalError(
      `${session.wallet.name} signed with another account than the connected ${shortAddress(session.account.address)}, so nothing was sent. Switch the wallet back to that account, or disconnect and connect again.`,
    );
  }
  return { message, signature, walletAddress: session.account.address, publicKey };
}

export function signedHeaders(proof) {
  const headers = { "X-Message": proof.message, "X-Signature": proof.signature, "X-Wallet-Address": proof.walletAddress };
  if (proof.publicKey) headers["X-Public-Key"] = proof.publicKey;
  return headers;
}

export function signedBody(proof) {
  const body = { message: proof.message, signature: proof.signature, walletAddress: proof.walletAddress };
  if (proof.publicKey) body.publicKey = proof.publicKey;
  return JSON.stringify(body);
}

export async function call(method, path, init) {
  let response;
  try {
    response = await fetch(path, { method, credentials: "omit", cache: "no-store", ...init });
  } catch {
    throw new PortalError("Cannot reach the gateway: your connection or the gateway is down. Check your network and try again.");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw apiError(response.status, body, response.headers);
  return body;
}
