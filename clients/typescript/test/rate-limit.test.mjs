// A 429 is retried after Retry-After within maxRetries and maxWaitMs, and
// reaches the caller as a WalletGateError when it may not be.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WalletGateClient } from '../dist/index.js';
import { startWalletgate } from '../scripts/walletgate.mjs';
import { tight } from './configs.mjs';
import { rejects } from './support.mjs';

let gateway;
before(async () => {
  gateway = await startWalletgate({ config: tight });
});
after(async () => gateway?.stop());

test('429: refused without retries, then retried until the window resets', async () => {
  const noRetry = new WalletGateClient({ baseUrl: gateway.url, maxRetries: 0 });
  await noRetry.listOrders();
  await noRetry.listOrders();
  const refused = noRetry.listOrders();
  await rejects(refused, 429, 'RATE_LIMITED');
  await refused.catch((error) => {
    assert.deepEqual(Object.keys(error.details).sort(), ['limit', 'reset', 'scope', 'window']);
  });
  assert.equal(noRetry.lastRateLimit.remaining, 0);
  assert.ok(noRetry.lastRateLimit.retryAfter >= 1);
  // Retries allowed but no time to wait: refused at once.
  const impatient = new WalletGateClient({ baseUrl: gateway.url, maxRetries: 5, maxWaitMs: 0 });
  await rejects(impatient.listOrders(), 429, 'RATE_LIMITED');
  // Waits for the window (at most a minute) and then succeeds.
  const patient = new WalletGateClient({ baseUrl: gateway.url, maxRetries: 2, maxWaitMs: 65_000 });
  const listed = await patient.listOrders();
  assert.equal(listed.status, 'success');
  assert.ok(patient.lastRateLimit.remaining >= 0);
});
