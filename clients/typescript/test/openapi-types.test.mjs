// src/openapi.ts is what openapi-typescript makes of the /openapi.json a real
// gateway serves today: the client's types cannot drift from the document.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { generatedTypes, TYPES_FILE } from '../scripts/openapi-types.mjs';

test('src/openapi.ts matches the served /openapi.json (run `npm run openapi` after changing it)', async () => {
  assert.equal(readFileSync(TYPES_FILE, 'utf8'), await generatedTypes());
});
