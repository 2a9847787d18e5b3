// Before anything is sent: does the wallet's signature belong to the connected
// address? The same checks as the gateway's (docs/signing.md), with the
// vendored noble libraries, so a wallet that signed with another account is
// caught in the page and the gateway never sees the request.

import { recoverPublicKey } from "./vendor/secp256k1.js";
import { sha256 } from "./vendor/sha2.js";
import { keccak_256 } from "./vendor/sha3.js";
import { ripemd160 } from "./vendor/legacy.js";

const C32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
// stacks.js signs with the first prefix and still accepts the legacy one.
const STACKS_PREFIXES = ["\x17Stacks Signed Message:\n", "\x18Stacks Message Signing:\n"];
const utf8 = (text) => new TextEncoder().encode(text);

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function hexBytes(text) {
  if (typeof text !== "string") return null;
  const hex = text.replace(/^0x/i, "");
  if (hex.length % 2 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  return Uint8Array.from(hex.match(/../g) || [], (pair) => parseInt(pair, 16));
}

const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

// Bitcoin's CompactSize, as stacks.js `encodeMessage` prefixes the length.
function compactSize(n) {
  if (n < 0xfd) return Uint8Array.of(n);
  if (n <= 0xffff) return Uint8Array.of(0xfd, n & 0xff, n >> 8);
  return Uint8Array.of(0xfe, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff);
}

/** 65 bytes r || s || v (v 0..3 or 27..30), or null when it is not one. */
export function isSignatureHex(text) {
  const raw = hexBytes(text);
  return raw !== null && raw.length === 65;
}

function recover(signatureHex, digest, compressed) {
  const raw = hexBytes(signatureHex);
  if (!raw || raw.length !== 65) return null;
  let v = raw[64];
  if (v >= 27 && v <= 30) v -= 27;
  if (v > 3) return null;
  try {
    // noble's "recovered" layout puts the recovery byte first.
    return recoverPublicKey(concat(Uint8Array.of(v), raw.slice(0, 64)), digest, { prehash: false, isCompressed: compressed });
  } catch {
    return null;
  }
}

/** The hash160 a Stacks address commits to (c32check, without its checksum). */
function stacksHash160(address) {
  const text = String(address).toUpperCase();
  if (!/^S[0-9A-Z]{3,}$/.test(text)) return null;
  let n = 0n;
  for (const ch of text.slice(2)) {
    const digit = C32.indexOf(ch);
    if (digit < 0) return null;
    n = n * 32n + BigInt(digit);
  }
  const bytes = new Uint8Array(24);
  for (let i = 23; i >= 0; i -= 1) {
    bytes[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return n === 0n ? bytes.slice(0, 20) : null;
}

export function stacksSignerMatches(address, message, signatureHex) {
  const wanted = stacksHash160(address);
  if (!wanted) return false;
  const body = utf8(message);
  for (const prefix of STACKS_PREFIXES) {
    const digest = sha256(concat(utf8(prefix), compactSize(body.length), body));
    for (const compressed of [true, false]) {
      const key = recover(signatureHex, digest, compressed);
      if (key && equal(ripemd160(sha256(key)), wanted)) return true;
    }
  }
  return false;
}

export function evmSignerMatches(address, message, signatureHex) {
  const body = utf8(message);
  const digest = keccak_256(concat(utf8(`\x19Ethereum Signed Message:\n${body.length}`), body));
  const key = recover(signatureHex, digest, false);
  if (!key) return false;
  return `0x${toHex(keccak_256(key.slice(1)).slice(12))}` === String(address).toLowerCase();
}
