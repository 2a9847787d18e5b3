// The client against a real `walletgate run`: both key dialects, canonical-JSON
// orders, the published signing domain, and every error shape.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { evmSigner, stacksSigner, WalletGateClient, WalletGateError } from '../dist/index.js';
import { startWalletgate } from '../scripts/walletgate.mjs';
import { bothDialects, DOMAIN, SERVICE_KEY } from './configs.mjs';
import { EVM_KEY, freshEvmKey, freshStacksKey, orderFor, rejects, STACKS_KEY } from './support.mjs';

let gateway;
before(async () => {
  gateway = await startWalletgate({ config: bothDialects });
});
after(async () => gateway?.stop());

const client = (options) => new WalletGateClient({ baseUrl: gateway.url, ...options });

/** A signer that records what it signs: the messages the client builds. */
function recording(signer, seen) {
  return { chain: signer.chain, address: signer.address, signMessage: (text) => (seen.push(text), signer.signMessage(text)) };
}

for (const [chain, makeSigner] of [['stacks', () => stacksSigner(freshStacksKey())], ['evm', () => evmSigner(freshEvmKey())]]) {
  test(`${chain} wallet: create, list, get, rotate and revoke keys`, async () => {
    const signer = makeSigner();
    const seen = [];
    const wallet = client({ signer: recording(signer, seen) });
    const created = await wallet.createApiKey({ keyName: 'bot', permissions: ['create', 'execute'] });
    assert.match(created.apiKey, /^ck_live_/);
    assert.deepEqual(created.permissions, ['create', 'execute']);
    const listed = await wallet.listApiKeys();
    assert.equal(listed.apiKeys.length, 1);
    assert.equal(listed.apiKeys[0].usageStats.totalRequests, 0);
    const one = await wallet.getApiKey(created.keyId);
    assert.equal(one.status, 'active');
    const rotated = await wallet.rotateApiKey(created.keyId, { graceSeconds: 0 });
    assert.equal(rotated.replacesKeyId, created.keyId);
    const revoked = await wallet.revokeApiKey(rotated.keyId);
    assert.equal(revoked.message, "API key 'bot' has been revoked");
    const events = await wallet.listApiKeyEvents(created.keyId, { limit: 10 });
    assert.ok(events.events.length >= 2);
    // Every signed message names the domain the gateway publishes.
    assert.ok(seen.length >= 6);
    for (const text of seen) assert.equal(JSON.parse(text).domain, DOMAIN);
    assert.ok(wallet.lastRateLimit.limit > 0);
    assert.ok(wallet.lastRateLimit.policy.includes('minute'));
  });

  test(`${chain} wallet: orders signed as canonical JSON, executed by key, cancelled by signature`, async () => {
    const signer = makeSigner();
    const wallet = client({ signer });
    const { apiKey } = await wallet.createApiKey({ keyName: 'orders', permissions: ['create', 'execute'] });
    const bot = client({ signer, apiKey });
    const first = await bot.createOrder(orderFor(signer.address));
    assert.equal(first.data.status, 'open');
    const executed = await bot.executeOrder(first.data.uuid);
    assert.match(executed.txid, /^0x/);
    const second = await wallet.createOrder(orderFor(signer.address));
    const cancelled = await wallet.cancelOrder(second.data.uuid);
    assert.equal(cancelled.status, 'success');
    assert.equal((await bot.getOrder(first.data.uuid)).data.status, 'filled');
    const mine = await client({}).listOrders({ owner: signer.address, limit: 10 });
    assert.equal(mine.data.length, 2);
    // The owner defaults to the signer's address.
    const { owner: _owner, ...ownerless } = orderFor(signer.address);
    assert.equal((await wallet.createOrder(ownerless)).data.owner, signer.address);
  });
}

test('service-key dialect: generate and revoke a wallet key', async () => {
  const wallet = evmSigner(freshEvmKey()).address;
  const service = client({ apiKey: SERVICE_KEY });
  const generated = await service.generateServiceKey(wallet);
  assert.equal(generated.success, true);
  assert.match(generated.api_key, /^stk_/);
  await rejects(service.generateServiceKey(wallet), 409, 'API_KEY_EXISTS');
  const revoked = await service.revokeServiceKey(wallet);
  assert.equal(revoked.wallet_address, wallet);
  await rejects(service.revokeServiceKey(wallet), 404, 'NOT_FOUND');
  await rejects(service.generateServiceKey('0x123'), 400, 'INVALID_WALLET');
  await rejects(client({ apiKey: 'stk_not_a_key' }).generateServiceKey(wallet), 401);
});

test('every error shape reaches the caller as a WalletGateError', async () => {
  const signer = stacksSigner(freshStacksKey());
  const wallet = client({ signer });
  const owner = client({ signer: evmSigner(EVM_KEY) });
  // 400: a signed field the gateway refuses; a bad query; an order that is no longer open.
  await rejects(wallet.createApiKey({ keyName: 'x', permissions: ['withdraw'] }), 400, 'INVALID_MESSAGE');
  await rejects(wallet.listOrders({ limit: 0 }), 400);
  // 401: a signature by another key; a malformed API key.
  const impostor = { chain: 'stacks', address: signer.address, signMessage: stacksSigner(STACKS_KEY).signMessage };
  await rejects(client({ signer: impostor }).listApiKeys(), 401, 'INVALID_SIGNATURE');
  await rejects(client({ apiKey: 'ck_live_nope' }).getOrder('x'), 401, 'INVALID_API_KEY');
  // 403: a key without the permission; a key of another wallet.
  const { apiKey } = await wallet.createApiKey({ keyName: 'create only', permissions: ['create'] });
  const order = await client({ signer, apiKey }).createOrder(orderFor(signer.address));
  const refused = client({ apiKey }).executeOrder(order.data.uuid);
  await rejects(refused, 403, 'PERMISSION_DENIED');
  await refused.catch((error) => assert.deepEqual(error.details.required, 'execute'));
  const otherKey = (await owner.createApiKey({ keyName: 'other', permissions: ['cancel'] })).apiKey;
  await rejects(client({ apiKey: otherKey }).cancelOrder(order.data.uuid), 403, 'WALLET_MISMATCH');
  // 404: an unknown key or order.
  await rejects(wallet.getApiKey('key_0000000000000000'), 404, 'NOT_FOUND');
  await rejects(client({}).getOrder('no-such-order'), 404, 'ORDER_NOT_FOUND');
  await wallet.cancelOrder(order.data.uuid);
  await rejects(wallet.cancelOrder(order.data.uuid), 400, 'ORDER_NOT_OPEN');
  // Client-side refusals: status 0, before anything is sent.
  await rejects(client({}).listApiKeys(), 0, 'SIGNER_REQUIRED');
  await rejects(client({}).generateServiceKey('0x' + '1'.repeat(40)), 0, 'BAD_INPUT');
  await rejects(wallet.getApiKey(''), 0, 'BAD_INPUT');
  await rejects(wallet.createApiKey({ keyName: '', permissions: [] }), 0, 'BAD_INPUT');
  assert.throws(() => new WalletGateClient({ baseUrl: 'not a url' }), WalletGateError);
  assert.throws(() => client({ maxRetries: -1 }), WalletGateError);
  // No answer at all.
  const closed = new WalletGateClient({ baseUrl: 'http://127.0.0.1:9' });
  await rejects(closed.getOrder('x'), 0, 'NETWORK_ERROR');
});
