/**
 * SIP-018 structured data: Clarity consensus serialization (SIP-005) of the
 * tuple a published scheme describes, and the digest stacks.js
 * `signStructuredData` signs (docs/order-signing.md §3).
 */
import { sha256 } from '@noble/hashes/sha2';
import { bigEndian, bytesToHex, concatBytes, fromHex, u32, utf8ToBytes } from './bytes.js';
import { badInput } from './errors.js';
import { c32decode } from './stacks.js';

export interface TupleEntry {
  key: string;
  type: string;
  field?: string;
  const?: unknown;
}

const MAX_128 = 1n << 128n;

function integer(value: unknown, field: string): bigint {
  if (typeof value === 'bigint') return value;
  if ((typeof value === 'string' && /^-?(0|[1-9][0-9]*)$/.test(value)) || Number.isSafeInteger(value)) {
    return BigInt(value as string | number);
  }
  throw badInput(`${field}: an integer, as a decimal string`, { field });
}

function principal(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string') throw badInput(`${field}: a Stacks principal`, { field });
  const [address = '', name] = value.split('.', 2);
  let decoded;
  try {
    decoded = c32decode(address);
  } catch {
    throw badInput(`${field}: a Stacks principal`, { field });
  }
  const standard = concatBytes(Uint8Array.of(decoded.version), decoded.hash160);
  if (name === undefined) return concatBytes(Uint8Array.of(0x05), standard);
  const nameBytes = utf8ToBytes(name);
  return concatBytes(Uint8Array.of(0x06), standard, Uint8Array.of(nameBytes.length), nameBytes);
}

/** The consensus bytes of one value of a scheme type. */
export function clarityValue(type: string, value: unknown, field: string): Uint8Array {
  if (type === 'none') return Uint8Array.of(0x09);
  if (type.startsWith('optional ')) {
    if (value === undefined || value === null) return Uint8Array.of(0x09);
    return concatBytes(Uint8Array.of(0x0a), clarityValue(type.slice(9), value, field));
  }
  if (type.startsWith('list ')) {
    if (!Array.isArray(value)) throw badInput(`${field}: a list`, { field });
    const items = value.map((item) => clarityValue(type.slice(5), item, field));
    return concatBytes(Uint8Array.of(0x0b), u32(items.length), ...items);
  }
  switch (type) {
    case 'uint': {
      const n = integer(value, field);
      if (n < 0n || n >= MAX_128) throw badInput(`${field}: out of range`, { field });
      return concatBytes(Uint8Array.of(0x01), bigEndian(n, 16));
    }
    case 'int': {
      const n = integer(value, field);
      if (n < -(MAX_128 >> 1n) || n >= MAX_128 >> 1n) throw badInput(`${field}: out of range`, { field });
      return concatBytes(Uint8Array.of(0x00), bigEndian(BigInt.asUintN(128, n), 16));
    }
    case 'bool':
      if (typeof value !== 'boolean') throw badInput(`${field}: true or false`, { field });
      return Uint8Array.of(value ? 0x03 : 0x04);
    case 'principal':
      return principal(value, field);
    case 'string-ascii':
    case 'string-utf8': {
      if (typeof value !== 'string') throw badInput(`${field}: a string`, { field });
      const bytes = utf8ToBytes(value);
      return concatBytes(Uint8Array.of(type === 'string-ascii' ? 0x0d : 0x0e), u32(bytes.length), bytes);
    }
    case 'buff': {
      let bytes: Uint8Array;
      try {
        bytes = fromHex(String(value));
      } catch {
        throw badInput(`${field}: 0x-hex bytes`, { field });
      }
      return concatBytes(Uint8Array.of(0x02), u32(bytes.length), bytes);
    }
  }
  throw badInput(`${field}: unknown Clarity type ${type}`, { field });
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  }
  return a.length - b.length;
}

/** A tuple: keys in byte order, as the Clarity VM serializes it. */
export function tuple(entries: [string, Uint8Array][]): Uint8Array {
  const sorted = entries
    .map(([key, value]) => [utf8ToBytes(key), value] as const)
    .sort(([a], [b]) => compareBytes(a, b));
  const parts = sorted.flatMap(([key, value]) => [Uint8Array.of(key.length), key, value]);
  return concatBytes(Uint8Array.of(0x0c), u32(sorted.length), ...parts);
}

export function domainTuple(domain: Record<string, unknown>): Uint8Array {
  return tuple([
    ['name', clarityValue('string-ascii', domain.name, 'domain.name')],
    ['version', clarityValue('string-ascii', domain.version, 'domain.version')],
    ['chain-id', clarityValue('uint', domain['chain-id'], 'domain.chain-id')],
  ]);
}

export function messageTuple(template: TupleEntry[], order: Record<string, unknown>): Uint8Array {
  return tuple(
    template.map((entry) => {
      const value = 'const' in entry ? entry.const : entry.field === undefined ? undefined : order[entry.field];
      return [entry.key, clarityValue(entry.type, value, entry.field ?? entry.key)];
    }),
  );
}

export function sip018Digest(domain: Uint8Array, message: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8ToBytes('SIP018'), sha256(domain), sha256(message)));
}

export const hex = bytesToHex;
