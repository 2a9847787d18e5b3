/**
 * EIP-712 typed-data hashing (docs/order-signing.md §3), as ethers'
 * TypedDataEncoder: encodeType, hashStruct and the 0x1901 digest.
 */
import { keccak_256 } from '@noble/hashes/sha3';
import { bigEndian, concatBytes, fromHex, utf8ToBytes } from './bytes.js';
import { badInput } from './errors.js';
import type { TypedData } from './signers.js';

type Types = TypedData['types'];
const ARRAY = /^(.*)\[(\d*)\]$/;

function baseType(type: string): string {
  const found = ARRAY.exec(type);
  return found ? baseType(found[1] ?? '') : type;
}

function dependencies(primary: string, types: Types, found: Set<string> = new Set()): Set<string> {
  if (found.has(primary) || !(primary in types)) return found;
  found.add(primary);
  for (const member of types[primary] ?? []) dependencies(baseType(member.type), types, found);
  return found;
}

export function encodeType(primary: string, types: Types): string {
  const others = [...dependencies(primary, types)].filter((name) => name !== primary).sort();
  return [primary, ...others]
    .map((name) => `${name}(${(types[name] ?? []).map((m) => `${m.type} ${m.name}`).join(',')})`)
    .join('');
}

function word(value: unknown, type: string, field: string): Uint8Array {
  const size = Number(type.replace(/^u?int/, '') || 256);
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if ((typeof value === 'string' && /^-?(0|[1-9][0-9]*)$/.test(value)) || Number.isSafeInteger(value)) {
    n = BigInt(value as string | number);
  } else throw badInput(`${field}: an integer, as a decimal string`, { field });
  const signed = type.startsWith('int');
  const min = signed ? -(1n << BigInt(size - 1)) : 0n;
  const max = signed ? (1n << BigInt(size - 1)) - 1n : (1n << BigInt(size)) - 1n;
  if (n < min || n > max) throw badInput(`${field}: out of range for ${type}`, { field });
  return bigEndian(BigInt.asUintN(256, n), 32);
}

function hexBytes(value: unknown, field: string): Uint8Array {
  try {
    return fromHex(String(value));
  } catch {
    throw badInput(`${field}: 0x-hex bytes`, { field });
  }
}

function encodeField(type: string, value: unknown, types: Types, field: string): Uint8Array {
  if (type in types) return hashStruct(type, value as Record<string, unknown>, types);
  const array = ARRAY.exec(type);
  if (array) {
    if (!Array.isArray(value)) throw badInput(`${field}: an array`, { field });
    return keccak_256(concatBytes(...value.map((item) => encodeField(array[1] ?? '', item, types, field))));
  }
  if (type === 'string') {
    if (typeof value !== 'string') throw badInput(`${field}: a string`, { field });
    return keccak_256(utf8ToBytes(value));
  }
  if (type === 'bytes') return keccak_256(hexBytes(value, field));
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw badInput(`${field}: true or false`, { field });
    return bigEndian(value ? 1n : 0n, 32);
  }
  if (type === 'address') {
    const bytes = hexBytes(value, field);
    if (bytes.length !== 20) throw badInput(`${field}: an address`, { field });
    return concatBytes(new Uint8Array(12), bytes);
  }
  if (/^u?int\d*$/.test(type)) return word(value, type, field);
  const fixed = /^bytes(\d+)$/.exec(type);
  if (fixed) {
    const bytes = hexBytes(value, field);
    if (bytes.length !== Number(fixed[1])) throw badInput(`${field}: ${type}`, { field });
    return concatBytes(bytes, new Uint8Array(32 - bytes.length));
  }
  throw badInput(`${field}: unknown EIP-712 type ${type}`, { field });
}

export function hashStruct(name: string, data: Record<string, unknown>, types: Types): Uint8Array {
  if (data === null || typeof data !== 'object') throw badInput(`${name}: an object`);
  const members = types[name] ?? [];
  const typeHash = keccak_256(utf8ToBytes(encodeType(name, types)));
  return keccak_256(
    concatBytes(typeHash, ...members.map((m) => encodeField(m.type, data[m.name], types, m.name))),
  );
}

export function eip712Digest(typed: TypedData): Uint8Array {
  const domain = hashStruct('EIP712Domain', typed.domain, typed.types);
  const message = hashStruct(typed.primaryType, typed.message, typed.types);
  return keccak_256(concatBytes(Uint8Array.of(0x19, 0x01), domain, message));
}
