/**
 * Stacks message signing and addresses (docs/signing.md §2): the digest of
 * `@stacks/encryption` hashMessage, RSV signatures as `signMessageHashRsv`
 * returns them, and c32check addresses.
 */
import { secp256k1 } from '@noble/curves/secp256k1';
import { ripemd160 } from '@noble/hashes/legacy';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, concatBytes, fromHex, utf8ToBytes } from './bytes.js';

const PREFIX = utf8ToBytes('\x17Stacks Signed Message:\n');
const C32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const VERSIONS = { mainnet: 22, testnet: 26 } as const;
export type StacksNetwork = keyof typeof VERSIONS;

/** Bitcoin's compact size. */
export function varint(length: number): Uint8Array {
  if (length < 0xfd) return Uint8Array.of(length);
  const wide = length <= 0xffff ? 2 : length <= 0xffffffff ? 4 : 8;
  const out = new Uint8Array(1 + wide);
  out[0] = wide === 2 ? 0xfd : wide === 4 ? 0xfe : 0xff;
  let rest = BigInt(length);
  for (let i = 1; i <= wide; i++) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

export function stacksMessageDigest(message: string): Uint8Array {
  const bytes = utf8ToBytes(message);
  return sha256(concatBytes(PREFIX, varint(bytes.length), bytes));
}

/** r || s || recovery id, hex without 0x: what stacks.js and Leather return. */
export function signDigestRsv(digest: Uint8Array, secret: Uint8Array): string {
  const signature = secp256k1.sign(digest, secret, { lowS: true });
  return bytesToHex(signature.toCompactRawBytes()) + signature.recovery.toString(16).padStart(2, '0');
}

export function c32encode(data: Uint8Array): string {
  let zeros = 0;
  while (zeros < data.length && data[zeros] === 0) zeros++;
  let value = data.length ? BigInt('0x' + bytesToHex(data)) : 0n;
  let digits = '';
  while (value > 0n) {
    digits = C32[Number(value % 32n)] + digits;
    value /= 32n;
  }
  return '0'.repeat(zeros) + digits;
}

export function c32address(version: number, hash160: Uint8Array): string {
  const checksum = sha256(sha256(concatBytes(Uint8Array.of(version), hash160))).slice(0, 4);
  return 'S' + C32[version] + c32encode(concatBytes(hash160, checksum));
}

/** (version, hash160) of a standard address; throws on a bad character or checksum. */
export function c32decode(address: string): { version: number; hash160: Uint8Array } {
  const text = address.toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
  if (!/^S[0-9A-Z]{2,}$/.test(text)) throw new TypeError(`not a Stacks address: ${address}`);
  const version = C32.indexOf(text[1] ?? '');
  let value = 0n;
  for (const char of text.slice(2)) {
    const digit = C32.indexOf(char);
    if (digit < 0) throw new TypeError(`not a Stacks address: ${address}`);
    value = value * 32n + BigInt(digit);
  }
  const hex = value.toString(16).padStart(48, '0');
  if (version < 0 || hex.length !== 48) throw new TypeError(`not a Stacks address: ${address}`);
  const bytes = fromHex(hex);
  const hash160 = bytes.slice(0, 20);
  if (c32address(version, hash160) !== text) throw new TypeError(`bad checksum: ${address}`);
  return { version, hash160 };
}

export function hash160(bytes: Uint8Array): Uint8Array {
  return ripemd160(sha256(bytes));
}
