export { WalletGateClient, type WalletGateClientOptions } from './client.js';
export { ClientErrorCode, WalletGateError } from './errors.js';
export { canonicalOrderMessage, signOrder, structuredRequest, type Order, type OrderScheme } from './orders.js';
export type { RateLimit } from './ratelimit.js';
export {
  evmSigner,
  stacksSigner,
  type Chain,
  type Signer,
  type StructuredRequest,
  type TypedData,
} from './signers.js';
export type * from './types.js';
export type { components, operations, paths } from './openapi.js';
