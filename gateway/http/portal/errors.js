// Every error said in words: what the wallet or the gateway answered, and
// what the owner can do about it.

// EIP-1193 "User Rejected Request" (Leather uses it too), and the SIP-030 /
// @stacks/connect codes for a rejection, a cancelled prompt and denied access.
const WALLET_REFUSED = new Set([4001, -32000, -31001, -32002]);

export class PortalError extends Error {}

/** A wallet answered, but not in any shape its standard describes. */
export class WalletAnswerError extends Error {}

export function waitText(seconds) {
  const s = Math.max(1, Math.ceil(Number(seconds) || 0));
  if (s < 90) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.ceil(s / 60);
  return `${m} minute${m === 1 ? "" : "s"}`;
}

function walletErrorCode(err) {
  if (!err || typeof err !== "object") return undefined;
  // EIP-1193 puts the code on the error; Leather rejects with a JSON-RPC
  // response whose `error` holds it.
  if (err.code !== undefined) return Number(err.code);
  if (err.error && err.error.code !== undefined) return Number(err.error.code);
  return undefined;
}

export function walletError(err, what, name = "Your wallet") {
  if (err instanceof PortalError) return err;
  if (err instanceof WalletAnswerError) {
    return new PortalError(
      `${name} answered in a way this page does not understand (${err.message}), so nothing was sent. Update the wallet, or try another one.`,
    );
  }
  if (WALLET_REFUSED.has(walletErrorCode(err))) {
    return new PortalError(
      `Your wallet refused to ${what}. Nothing was sent and nothing was changed. Try again and approve the request in your wallet.`,
    );
  }
  const detail = (err && (err.message || (err.error && err.error.message))) || "no reason given";
  return new PortalError(`${name} could not ${what} (${detail}). Nothing was sent and nothing was changed.`);
}

export function apiError(status, body, headers) {
  const code = body && body.code;
  const details = (body && body.details) || {};
  if (status === 429 || code === "RATE_LIMITED") {
    const wait = headers.get("Retry-After");
    const when = wait ? `in ${waitText(wait)}` : "in a minute";
    return new PortalError(
      `Too many requests: the gateway limits how often a wallet can manage keys. Try again ${when}.`,
    );
  }
  if (code === "SIGNATURE_EXPIRED") {
    return new PortalError(
      "Your signature expired before it reached the gateway: a signed request is valid for a few minutes. Check that your device's clock is right, then try again.",
    );
  }
  if (code === "SIGNATURE_REPLAYED") {
    return new PortalError("That signature was already used. Try again: your wallet will sign a fresh message.");
  }
  if (code === "INVALID_SIGNATURE" || code === "UNAUTHORIZED") {
    return new PortalError(
      "The gateway could not verify your wallet's signature. Make sure the connected account is the one that signed, then try again.",
    );
  }
  if (code === "INVALID_WALLET") return new PortalError("The gateway does not accept this wallet address.");
  if (code === "INVALID_MESSAGE" || code === "BAD_REQUEST") {
    const field = details.field ? ` (${fieldName(details.field)})` : "";
    return new PortalError(`The gateway refused the request${field}: ${body.error}.`);
  }
  if (code === "NOT_FOUND") return new PortalError("That key no longer exists for this wallet. Refresh the list.");
  if (status >= 500) {
    return new PortalError(`The gateway is having trouble right now (${code || status}). Try again in a minute.`);
  }
  return new PortalError((body && body.error) || `The gateway answered ${status}.`);
}

function fieldName(field) {
  const names = { keyName: "name", ipAllowlist: "IP allowlist", expiresAt: "expiry", rateLimit: "requests per minute" };
  return names[field] || field;
}
