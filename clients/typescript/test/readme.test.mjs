// The README's bot example runs as written against a real `walletgate run`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startWalletgate } from '../scripts/walletgate.mjs';

let gateway;
before(async () => {
  gateway = await startWalletgate();
});
after(async () => gateway?.stop());

test('the README bot example runs', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const [, bot] = /```js\n([\s\S]*?)```/.exec(readme);
  // Inside the package directory, so `walletgate-client` resolves to this package.
  const file = fileURLToPath(new URL('../.readme-bot.mjs', import.meta.url));
  writeFileSync(file, bot);
  try {
    const run = spawnSync(process.execPath, [file], {
      env: { ...process.env, WALLETGATE_URL: gateway.url },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /executed 0x[0-9a-f]{64}/);
    assert.match(run.stdout, /refused 400 ORDER_NOT_OPEN/);
  } finally {
    rmSync(file, { force: true });
  }
});
