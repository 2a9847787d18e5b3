/**
 * WalletGateClient: the key-management calls of both dialects and the order
 * routes, signed by a Signer, with the rate-limit headers of the last answer
 * and retries after a 429. fetch only: Node >= 20 and browsers alike.
 */
import { badInput, ClientErrorCode, errorFromAnswer, WalletGateError } from './errors.js';
import { signOrder, type Order, type OrderScheme } from './orders.js';
import { readRateLimit, waitMs, type RateLimit } from './ratelimit.js';
import type { Signer } from './signers.js';
import type * as T from './types.js';

export interface WalletGateClientOptions {
  baseUrl: string;
  /** An API key, or on /api-key/* the operator's service key. */
  apiKey?: string;
  signer?: Signer;
  /** Retries after a 429 (default 3). */
  maxRetries?: number;
  /** The most time spent waiting for retries, per call (default 60 000). */
  maxWaitMs?: number;
  /** A fetch of your own (tests, proxies); default globalThis.fetch. */
  fetch?: typeof fetch;
}

const CREATE_ORDER = { method: 'POST', path: '/api/v1/orders/new' };
type Request = { method: string; path: string; headers?: Record<string, string>; body?: unknown };

function checkedText(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0 || /[\r\n]/.test(value)) {
    throw badInput(`${name} must be a non-empty one-line string`);
  }
  return value;
}

const segment = (value: unknown, name: string) => encodeURIComponent(checkedText(value, name));
const withQuery = (query: URLSearchParams) => (query.toString() ? `?${query}` : '');

export class WalletGateClient {
  readonly baseUrl: string;
  /** The rate-limit headers of the last answer (null before the first one). */
  lastRateLimit: RateLimit | null = null;
  private readonly apiKey: string | undefined;
  private readonly signer: Signer | undefined;
  private readonly maxRetries: number;
  private readonly maxWaitMs: number;
  private readonly fetcher: typeof fetch;
  private signingInfo: Promise<T.SigningInfo | null> | null = null;
  private readonly schemes = new Map<string, Promise<OrderScheme | null>>();

  constructor(options: WalletGateClientOptions) {
    if (options === null || typeof options !== 'object') throw badInput('options are required');
    let url: URL;
    try {
      url = new URL(checkedText(options.baseUrl, 'baseUrl'));
    } catch (error) {
      if (error instanceof WalletGateError) throw error;
      throw badInput('baseUrl must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badInput('baseUrl must be http(s)');
    this.baseUrl = url.href.replace(/\/+$/, '');
    if (options.apiKey !== undefined) this.apiKey = checkedText(options.apiKey, 'apiKey');
    this.signer = options.signer;
    this.maxRetries = this.count(options.maxRetries ?? 3, 'maxRetries');
    this.maxWaitMs = this.count(options.maxWaitMs ?? 60_000, 'maxWaitMs');
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  private count(value: unknown, name: string): number {
    if (!Number.isSafeInteger(value) || (value as number) < 0) throw badInput(`${name} must be a whole number >= 0`);
    return value as number;
  }

  // -- wallet-signed keys ------------------------------------------------------

  async createApiKey(options: T.CreateApiKeyOptions): Promise<T.CreatedApiKey> {
    if (options === null || typeof options !== 'object') throw badInput('createApiKey takes {keyName, permissions}');
    const { keyName, permissions, ipAllowlist, expiresAt, rateLimit } = options;
    checkedText(keyName, 'keyName');
    if (!Array.isArray(permissions)) throw badInput('permissions must be a list');
    const fields = { keyName, permissions, ipAllowlist, expiresAt, rateLimit };
    return this.signedBody('POST', '/api/v1/api-keys', 'create_api_key', fields);
  }

  async listApiKeys(): Promise<T.ApiKeyList> {
    return this.signedHeaders('GET', '/api/v1/api-keys', 'list_api_keys', {});
  }

  async getApiKey(keyId: string): Promise<T.ApiKey> {
    return this.signedHeaders('GET', `/api/v1/api-keys/${segment(keyId, 'keyId')}`, 'get_api_key', { keyId });
  }

  async listApiKeyEvents(keyId: string, page: { limit?: number; cursor?: string } = {}): Promise<T.KeyEventPage> {
    const query = new URLSearchParams();
    if (page.limit !== undefined) query.set('limit', String(this.count(page.limit, 'limit')));
    if (page.cursor !== undefined) query.set('cursor', checkedText(page.cursor, 'cursor'));
    const path = `/api/v1/api-keys/${segment(keyId, 'keyId')}/events${withQuery(query)}`;
    return this.signedHeaders('GET', path, 'list_api_key_events', { keyId });
  }

  async revokeApiKey(keyId: string): Promise<T.RevokedApiKey> {
    return this.signedBody('DELETE', `/api/v1/api-keys/${segment(keyId, 'keyId')}`, 'delete_api_key', { keyId });
  }

  async rotateApiKey(keyId: string, options: { graceSeconds?: number } = {}): Promise<T.RotatedApiKey> {
    const path = `/api/v1/api-keys/${segment(keyId, 'keyId')}/rotate`;
    const grace = options.graceSeconds;
    if (grace !== undefined) this.count(grace, 'graceSeconds');
    return this.signedBody('POST', path, 'rotate_api_key', { keyId, graceSeconds: grace });
  }

  // -- service-key dialect -----------------------------------------------------

  async generateServiceKey(walletAddress: string): Promise<T.GeneratedKey> {
    return this.send({ method: 'POST', path: '/api-key/generate', headers: this.serviceHeaders(walletAddress) });
  }

  async revokeServiceKey(walletAddress: string): Promise<T.RevokedWalletKey> {
    return this.send({ method: 'POST', path: '/api-key/revoke', headers: this.serviceHeaders(walletAddress) });
  }

  private serviceHeaders(walletAddress: string): Record<string, string> {
    return { ...this.keyHeader(true), 'X-Wallet-Address': checkedText(walletAddress, 'walletAddress') };
  }

  // -- orders ------------------------------------------------------------------

  /** Signs the order with the scheme GET /api/v1/order-schemes publishes for its route. */
  async createOrder(order: Order): Promise<T.OrderResult> {
    if (order === null || typeof order !== 'object' || Array.isArray(order)) throw badInput('order must be an object');
    const signer = this.requireSigner();
    const scheme = await this.orderScheme(CREATE_ORDER.method, CREATE_ORDER.path);
    const owned = 'owner' in order ? order : { owner: signer.address, ...order };
    const body = await signOrder(signer, scheme, owned);
    // Not retried: a gateway that refuses a signed order for rate limit has
    // already spent its uuid (the same order again is SIGNATURE_REPLAYED).
    return this.send({ ...CREATE_ORDER, headers: this.keyHeader(false), body }, false);
  }

  async executeOrder(uuid: string): Promise<T.OrderExecuted> {
    return this.orderAction('POST', `/api/v1/orders/${segment(uuid, 'uuid')}/execute`, 'execute_order', uuid);
  }

  async cancelOrder(uuid: string): Promise<T.OrderCancelled> {
    return this.orderAction('PATCH', `/api/v1/orders/${segment(uuid, 'uuid')}/cancel`, 'cancel_order', uuid);
  }

  async getOrder(uuid: string): Promise<T.OrderResult> {
    return this.send({ method: 'GET', path: `/api/v1/orders/${segment(uuid, 'uuid')}`, headers: this.keyHeader(false) });
  }

  async listOrders(filters: T.OrderFilters = {}): Promise<T.OrderList> {
    const query = new URLSearchParams();
    for (const name of ['owner', 'status', 'cursor'] as const) {
      if (filters[name] !== undefined) query.set(name, checkedText(filters[name], name));
    }
    if (filters.limit !== undefined) query.set('limit', String(this.count(filters.limit, 'limit')));
    const path = `/api/v1/orders${withQuery(query)}`;
    return this.send({ method: 'GET', path, headers: this.keyHeader(false) });
  }

  /** With an API key, the key; otherwise the owner's signed headers. */
  private orderAction<R>(method: string, path: string, action: string, uuid: string): Promise<R> {
    if (this.apiKey !== undefined) return this.send({ method, path, headers: this.keyHeader(true) });
    return this.signedHeaders(method, path, action, { uuid });
  }

  // -- what the gateway publishes ------------------------------------------------

  /** GET /api/v1/signing, asked once; null from a gateway that predates it. */
  signing(): Promise<T.SigningInfo | null> {
    this.signingInfo ??= this.send<T.SigningInfo>({ method: 'GET', path: '/api/v1/signing' }).catch((error) => {
      this.signingInfo = null;
      if (error instanceof WalletGateError && error.status === 404) return null;
      throw error;
    });
    return this.signingInfo;
  }

  /** The scheme a route's orders are signed with (null: the route takes no order signature). */
  orderScheme(method: string, path: string): Promise<OrderScheme | null> {
    const key = `${method} ${path}`;
    let found = this.schemes.get(key);
    if (!found) {
      found = this.loadScheme(method, path);
      found.catch(() => this.schemes.delete(key));
      this.schemes.set(key, found);
    }
    return found;
  }

  private async loadScheme(method: string, path: string): Promise<OrderScheme | null> {
    const list = await this.send<T.OrderSchemeList>({ method: 'GET', path: '/api/v1/order-schemes' });
    const named = list.schemes.find((s) => s.routes.some((r) => r.method === method && r.path === path));
    if (!named) return null;
    return this.send({ method: 'GET', path: `/api/v1/order-schemes/${encodeURIComponent(named.name)}` });
  }

  // -- signing and sending -------------------------------------------------------

  private requireSigner(): Signer {
    if (!this.signer) throw new WalletGateError(0, ClientErrorCode.SIGNER_REQUIRED, 'this call needs a signer');
    return this.signer;
  }

  private keyHeader(required: boolean): Record<string, string> {
    if (this.apiKey !== undefined) return { 'X-API-Key': this.apiKey };
    if (required) throw badInput('this call needs apiKey');
    return {};
  }

  /** A fresh signed message: action, the bound fields, the published domain, a timestamp. */
  private async message(action: string, fields: Record<string, unknown>): Promise<Record<string, string>> {
    const signer = this.requireSigner();
    const info = await this.signing();
    const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    const domain = info?.domain ? { domain: info.domain } : {};
    const message = JSON.stringify({ action, ...defined, ...domain, timestamp: Date.now() });
    const signed: Record<string, string> = {
      message,
      signature: await signer.signMessage(message),
      walletAddress: signer.address,
    };
    if (signer.publicKey) signed.publicKey = signer.publicKey;
    return signed;
  }

  // Each attempt signs anew: a message is accepted once, a retry needs its own.
  private signedBody<R>(method: string, path: string, action: string, fields: Record<string, unknown>): Promise<R> {
    return this.send(async () => ({ method, path, body: await this.message(action, fields) }));
  }

  private signedHeaders<R>(method: string, path: string, action: string, fields: Record<string, unknown>): Promise<R> {
    return this.send(async () => {
      const { message, signature, walletAddress, publicKey } = await this.message(action, fields);
      const headers: Record<string, string> = {
        'X-Message': message as string,
        'X-Signature': signature as string,
        'X-Wallet-Address': walletAddress as string,
      };
      if (publicKey) headers['X-Public-Key'] = publicKey;
      return { method, path, headers };
    });
  }

  private async send<R>(request: Request | (() => Promise<Request>), retry = true): Promise<R> {
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      const current = typeof request === 'function' ? await request() : request;
      const response = await this.exchange(current);
      this.lastRateLimit = readRateLimit(response.headers) ?? this.lastRateLimit;
      const body = await this.bodyOf(response);
      if (response.ok) return body as R;
      const error = errorFromAnswer(response.status, body);
      if (response.status !== 429 || !retry || attempt >= this.maxRetries) throw error;
      const wait = waitMs(readRateLimit(response.headers), Date.now());
      if (wait === null || waited + wait > this.maxWaitMs) throw error;
      waited += wait;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private async exchange(request: Request): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...request.headers };
    const init: RequestInit = { method: request.method, headers };
    if (request.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(request.body);
    }
    try {
      return await this.fetcher(this.baseUrl + request.path, init);
    } catch (error) {
      throw new WalletGateError(0, ClientErrorCode.NETWORK_ERROR, `cannot reach ${this.baseUrl}: ${String(error)}`);
    }
  }

  private async bodyOf(response: Response): Promise<unknown> {
    const text = await response.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      if (!response.ok) return text;
      throw new WalletGateError(response.status, ClientErrorCode.BAD_RESPONSE, 'the answer is not JSON');
    }
  }
}
