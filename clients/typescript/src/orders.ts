/**
 * Signing an order with the scheme its route publishes
 * (GET /api/v1/order-schemes/{name}): canonical JSON, SIP-018 or EIP-712.
 */
import { bytesToHex } from './bytes.js';
import { eip712Digest } from './eip712.js';
import { badInput, ClientErrorCode, WalletGateError } from './errors.js';
import type { components } from './openapi.js';
import type { Signer, StructuredRequest, TypedData } from './signers.js';
import { domainTuple, messageTuple, sip018Digest, type TupleEntry } from './sip018.js';

export type OrderScheme = components['schemas']['OrderScheme'];
export type Order = Record<string, unknown>;

function sortedCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedCopy);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return Object.fromEntries(entries.map(([k, v]) => [k, sortedCopy(v)]));
  }
  return value;
}

/** The canonical order message: every field but `signature`, sorted keys, no spaces. */
export function canonicalOrderMessage(order: Order): string {
  const { signature: _ignored, ...rest } = order;
  return JSON.stringify(sortedCopy(rest));
}

export function typedDataOf(scheme: OrderScheme, order: Order): TypedData {
  const types = scheme.types ?? {};
  const primaryType = scheme.primaryType ?? '';
  const fields = scheme.fields ?? {};
  const constants = scheme.constants ?? {};
  const message = Object.fromEntries(
    (types[primaryType] ?? []).map(({ name }) => [
      name,
      name in constants ? constants[name] : order[fields[name] ?? name],
    ]),
  );
  return { types, primaryType, domain: scheme.domain ?? {}, message };
}

export function structuredRequest(scheme: OrderScheme, order: Order): StructuredRequest {
  if (scheme.kind === 'sip018') {
    const domain = domainTuple(scheme.domain ?? {});
    const message = messageTuple((scheme.message ?? []) as TupleEntry[], order);
    return {
      kind: 'sip018',
      digest: sip018Digest(domain, message),
      domainHex: bytesToHex(domain),
      messageHex: bytesToHex(message),
    };
  }
  const typedData = typedDataOf(scheme, order);
  return { kind: 'eip712', digest: eip712Digest(typedData), typedData };
}

const SCHEME_CHAIN = { sip018: 'stacks', eip712: 'evm' } as const;

/** The order with its owner's `signature` under `scheme` (null scheme: sent unsigned). */
export async function signOrder(signer: Signer, scheme: OrderScheme | null, order: Order): Promise<Order> {
  if (scheme === null) return order;
  if (scheme.kind === 'canonical_json') {
    return { ...order, signature: await signer.signMessage(canonicalOrderMessage(order)) };
  }
  if (signer.chain !== SCHEME_CHAIN[scheme.kind]) {
    throw badInput(`scheme ${scheme.name} (${scheme.kind}) is not signed by a ${signer.chain} wallet`);
  }
  if (!signer.signStructured) {
    throw new WalletGateError(
      0,
      ClientErrorCode.UNSUPPORTED_SCHEME,
      `scheme ${scheme.name} needs a signer with signStructured`,
    );
  }
  return { ...order, signature: await signer.signStructured(structuredRequest(scheme, order)) };
}
