// Byte helpers shared by the signers and the structured-data encoders.
export { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils';
import { hexToBytes } from '@noble/hashes/utils';

/** Hex with or without `0x` to bytes; throws on odd length or non-hex. */
export function fromHex(text: string): Uint8Array {
  const bare = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
  if (bare.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(bare)) {
    throw new TypeError('not hex');
  }
  return hexToBytes(bare.toLowerCase());
}

/** A non-negative bigint as `length` big-endian bytes. */
export function bigEndian(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  if (rest !== 0n) throw new RangeError('value does not fit');
  return out;
}

export function u32(value: number): Uint8Array {
  return bigEndian(BigInt(value), 4);
}
