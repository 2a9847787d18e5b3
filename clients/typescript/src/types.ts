// The answers' types, from the generated OpenAPI types: they cannot drift
// from what the gateway documents (test/openapi-types.test.mjs).
import type { components } from './openapi.js';

type Schemas = components['schemas'];
export type CreatedApiKey = Schemas['CreatedApiKey'];
export type RotatedApiKey = Schemas['RotatedApiKey'];
export type ApiKey = Schemas['ApiKey'];
export type ApiKeyList = Schemas['ApiKeyList'];
export type RevokedApiKey = Schemas['RevokedApiKey'];
export type KeyEventPage = Schemas['KeyEventPage'];
export type GeneratedKey = Schemas['GeneratedKey'];
export type RevokedWalletKey = Schemas['RevokedWalletKey'];
export type SigningInfo = Schemas['SigningInfo'];
export type OrderSchemeList = Schemas['OrderSchemeList'];
export type OrderResult = Schemas['OrderResult'];
export type OrderList = Schemas['OrderList'];
export type OrderExecuted = Schemas['OrderExecuted'];
export type OrderCancelled = Schemas['OrderCancelled'];
export type Permission = 'create' | 'execute' | 'cancel';

export interface CreateApiKeyOptions {
  keyName: string;
  permissions: Permission[];
  ipAllowlist?: string[];
  expiresAt?: string;
  rateLimit?: number;
}

export interface OrderFilters {
  owner?: string;
  status?: 'open' | 'filled' | 'cancelled';
  limit?: number;
  cursor?: string;
}
