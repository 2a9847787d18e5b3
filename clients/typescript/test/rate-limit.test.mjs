// A 429 is retried after Retry-After within maxRetries and maxWaitMs, and
// reaches the caller as a WalletGateError when it may not be.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WalletGateClient, WalletGateError } from '../dist/index.js';
import { startWalletgate } from '../scripts/walletgate.mjs';
import { tight } from './configs.mjs';

let gateway;
before(async () => {
  gateway = await startWalletgate({ config: tight });
});
after(async () => gateway?.stop());

/** Calls until the window is full; returns the 429's WalletGateError. */
async function exhaust(client) {
  for (let i = 0; i < 10; i++) {
    try {
      await client.listOrders();
    } catch (error) {
      assert.ok(error instanceof WalletGateError, String(error));
      return error;
    }
  }
  assert.fail('no 429 after 10 requests with a limit of 2 a minute');
}

test('429: refused without retries, or without time to wait', async () => {
  const noRetry = new WalletGateClient({ baseUrl: gateway.url, maxRetries: 0 });
  const refused = await exhaust(noRetry);
  assert.equal(refused.status, 429);
  assert.equal(refused.code, 'RATE_LIMITED');
  assert.deepEqual(Object.keys(refused.details).sort(), ['limit', 'reset', 'scope', 'window']);
  assert.equal(noRetry.lastRateLimit.remaining, 0);
  assert.ok(noRetry.lastRateLimit.retryAfter >= 1);
  // Retries allowed but no time to wait: refused at once (the window is full, as just seen).
  const impatient = new WalletGateClient({ baseUrl: gateway.url, maxRetries: 5, maxWaitMs: 0 });
  await exhaust(impatient).then((error) => assert.equal(error.status, 429));
});

test('429: retried after Retry-After until the window resets', async () => {
  const statuses = [];
  const recording = async (url, init) => {
    const response = await fetch(url, init);
    statuses.push(response.status);
    return response;
  };
  const patient = new WalletGateClient({ baseUrl: gateway.url, maxRetries: 2, maxWaitMs: 65_000, fetch: recording });
  // Calls until one meets a full window: it waits for the next (at most a minute) and succeeds.
  for (let i = 0; i < 4 && !statuses.includes(429); i++) {
    assert.equal((await patient.listOrders()).status, 'success');
  }
  assert.ok(statuses.includes(429), String(statuses));
  assert.equal(statuses.at(-1), 200);
  assert.ok(patient.lastRateLimit.remaining >= 0);
});
