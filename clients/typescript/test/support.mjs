import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { WalletGateError } from '../dist/index.js';

export const STACKS_KEY = '7b9f0a6ad0de8f5aa7d3b3f0e3fe2b1bce0c2b3c1f5a1f8a2c5e54c2c1f3a90b01';
export const EVM_KEY = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318';
export const freshStacksKey = () => randomBytes(32).toString('hex') + '01';
export const freshEvmKey = () => '0x' + randomBytes(32).toString('hex');
const TOKEN = 'SP2ZNGJ85ENDY6QRHQ5P2D4FXKGZWCKTB2T0Z55KS';

/** An order of the bundled backend's shape for `owner` (Stacks principals or EVM addresses). */
export function orderFor(owner) {
  const evm = owner.startsWith('0x');
  const token = (name) => (evm ? '0x' + randomBytes(20).toString('hex') : `${TOKEN}.${name}`);
  return {
    owner,
    inputToken: token('token-a'),
    outputToken: token('token-b'),
    amountIn: '1000000',
    targetPrice: '1.5',
    direction: 'gt',
    conditionToken: token('price-oracle'),
    recipient: owner,
    uuid: randomUUID(),
  };
}

/** Awaits a WalletGateError of this status (and code, when given) with the error body's shape. */
export async function rejects(promise, status, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof WalletGateError, String(error));
    assert.equal(error.status, status, `${error.code}: ${error.message}`);
    if (code) assert.equal(error.code, code, error.message);
    assert.equal(typeof error.message, 'string');
    assert.equal(typeof error.details, 'object');
    return true;
  });
}
