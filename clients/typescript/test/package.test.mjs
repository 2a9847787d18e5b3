// The package as a consumer sees it: ESM with declarations that type the
// answers, and no Node-only API in the library (it runs in browsers too).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

test('a bot written in TypeScript compiles with tsc --strict against the declarations', () => {
  const tsc = `${root}node_modules/.bin/tsc`;
  const options = ['--strict', '--noEmit', '--module', 'nodenext', '--target', 'es2022', '--types', 'node'];
  const run = spawnSync(tsc, [...options, 'test/fixtures/consumer.ts'], { cwd: root, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

test('the library uses no Node-only API', () => {
  const files = readdirSync(`${root}dist`).filter((name) => name.endsWith('.js'));
  assert.ok(files.length >= 10);
  for (const name of files) {
    const code = readFileSync(`${root}dist/${name}`, 'utf8');
    for (const nodeOnly of [/from ['"]node:/, /require\(/, /\bprocess\./, /\bBuffer\b/, /from ['"](fs|path|crypto|http|https)['"]/]) {
      assert.doesNotMatch(code, nodeOnly, `${name}: ${nodeOnly}`);
    }
  }
});

test('package.json: ESM, declarations, Node >= 20', () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
  assert.equal(pkg.name, 'walletgate-client');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.exports['.'].types, './dist/index.d.ts');
  assert.equal(pkg.engines.node, '>=20');
});
