/**
 * EVM message signing (EIP-191 personal_sign, as ethers signMessage) and
 * EIP-55 addresses.
 */
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, concatBytes, utf8ToBytes } from './bytes.js';

export function personalMessageDigest(message: string): Uint8Array {
  const bytes = utf8ToBytes(message);
  return keccak_256(concatBytes(utf8ToBytes(`\x19Ethereum Signed Message:\n${bytes.length}`), bytes));
}

/** 0x + r || s || v with v = 27/28, as ethers serializes a signature. */
export function signDigestEvm(digest: Uint8Array, secret: Uint8Array): string {
  const signature = secp256k1.sign(digest, secret, { lowS: true });
  return '0x' + bytesToHex(signature.toCompactRawBytes()) + (27 + signature.recovery).toString(16);
}

export function checksumAddress(hex40: string): string {
  const lower = hex40.toLowerCase().replace(/^0x/, '');
  const hash = bytesToHex(keccak_256(utf8ToBytes(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    const char = lower[i] ?? '';
    out += parseInt(hash[i] ?? '0', 16) >= 8 ? char.toUpperCase() : char;
  }
  return out;
}

export function evmAddress(secret: Uint8Array): string {
  const publicKey = secp256k1.getPublicKey(secret, false);
  return checksumAddress(bytesToHex(keccak_256(publicKey.slice(1)).slice(-20)));
}
