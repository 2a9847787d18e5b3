/**
 * Signers: a local Stacks or EVM key, or any object with the same shape (a
 * browser wallet, a KMS, an "authorized signing server").
 */
import { secp256k1 } from '@noble/curves/secp256k1';
import { bytesToHex, fromHex } from './bytes.js';
import { badInput } from './errors.js';
import { evmAddress, personalMessageDigest, signDigestEvm } from './evm.js';
import {
  c32address,
  hash160,
  signDigestRsv,
  stacksMessageDigest,
  VERSIONS,
  type StacksNetwork,
} from './stacks.js';

export type Chain = 'stacks' | 'evm';

/** EIP-712 typed data as eth_signTypedData_v4 takes it. */
export interface TypedData {
  types: Record<string, { name: string; type: string }[]>;
  primaryType: string;
  domain: Record<string, unknown>;
  message: Record<string, unknown>;
}

/**
 * What a structured order signature covers. `digest` is the 32 bytes a key
 * holder signs; wallets take the SIP-018 Clarity values (consensus bytes, hex)
 * or the EIP-712 typed data instead.
 */
export type StructuredRequest =
  | { kind: 'sip018'; digest: Uint8Array; domainHex: string; messageHex: string }
  | { kind: 'eip712'; digest: Uint8Array; typedData: TypedData };

export interface Signer {
  readonly chain: Chain;
  readonly address: string;
  /** Stacks: the public key the address hashes (sent along, as wallets do). */
  readonly publicKey?: string;
  /** Stacks: RSV hex of the message signature; EVM: the personal_sign signature. */
  signMessage(text: string): string | Promise<string>;
  /** SIP-018 / EIP-712 order signatures; without it only canonical-JSON orders can be signed. */
  signStructured?(request: StructuredRequest): string | Promise<string>;
}

function secretOf(privateKeyHex: string, lengths: number[]): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromHex(String(privateKeyHex).trim());
  } catch {
    throw badInput('private key must be hex');
  }
  if (!lengths.includes(bytes.length)) {
    throw badInput(`private key must be ${lengths.join(' or ')} bytes`);
  }
  const secret = bytes.slice(0, 32);
  if (!secp256k1.utils.isValidPrivateKey(secret)) throw badInput('private key out of range');
  return secret;
}

/**
 * A Stacks key: 32 bytes (uncompressed public key, as stacks.js treats it)
 * or 33 bytes ending 01 (compressed).
 */
export function stacksSigner(
  privateKeyHex: string,
  options: { network?: StacksNetwork } = {},
): Signer {
  const network = options.network ?? 'mainnet';
  if (!(network in VERSIONS)) throw badInput('network must be mainnet or testnet');
  const raw = String(privateKeyHex).trim().replace(/^0x/i, '');
  const compressed = raw.length === 66;
  if (compressed && !raw.toLowerCase().endsWith('01')) {
    throw badInput('a 33-byte Stacks private key must end in 01');
  }
  const secret = secretOf(raw, [32, 33]);
  const publicKey = secp256k1.getPublicKey(secret, compressed);
  return {
    chain: 'stacks',
    address: c32address(VERSIONS[network], hash160(publicKey)),
    publicKey: bytesToHex(publicKey),
    signMessage: (text: string) => signDigestRsv(stacksMessageDigest(text), secret),
    signStructured: (request: StructuredRequest) => signDigestRsv(request.digest, secret),
  };
}

/** An EVM key (32 bytes, optional 0x): personal_sign and EIP-712, as ethers' Wallet. */
export function evmSigner(privateKeyHex: string): Signer {
  const secret = secretOf(privateKeyHex, [32]);
  return {
    chain: 'evm',
    address: evmAddress(secret),
    signMessage: (text: string) => signDigestEvm(personalMessageDigest(text), secret),
    signStructured: (request: StructuredRequest) => signDigestEvm(request.digest, secret),
  };
}
