// Signed calls to this gateway's key-management endpoints.

import { say } from "./dom.js";
import { PortalError, apiError } from "./errors.js";
import { wallets } from "./wallets.js";

export async function signed(wallet, action, fields) {
  const message = JSON.stringify({ action, ...fields, timestamp: Date.now() });
  say("Waiting for your wallet to sign…");
  const { signature, publicKey } = await wallets[wallet.chain].sign(wallet, message);
  return { message, signature, walletAddress: wallet.address, publicKey };
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
