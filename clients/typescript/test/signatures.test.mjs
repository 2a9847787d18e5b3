// Signatures byte-identical to stacks.js and ethers for the same key and
// message, and to the repository's vectors (made by the same libraries).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { hashMessage } from '@stacks/encryption';
import { Cl, getAddressFromPrivateKey, signMessageHashRsv, signStructuredData } from '@stacks/transactions';
import { Wallet } from 'ethers';
import { evmSigner, stacksSigner, structuredRequest, WalletGateError } from '../dist/index.js';
import { load, sip018Scheme, vectorDirs } from './vectors.mjs';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const MESSAGES = [
  '{"action":"list_api_keys","timestamp":1705312800000}',
  '',
  'Grüße, 世界 🚀',
  'x'.repeat(252),
  'y'.repeat(253),
  'z'.repeat(70_000),
];

test('vectors exist', () => assert.ok(vectorDirs.length >= 1));

for (const dir of vectorDirs) {
  test(`message vectors of ${dir}`, async () => {
    const { vectors } = load(dir, 'signatures.json');
    let checked = 0;
    for (const v of vectors.filter((v) => v.prefix !== 'legacy')) {
      const signer = v.chain === 'stacks' ? stacksSigner(v.privateKey, { network: v.network }) : evmSigner(v.privateKey);
      assert.equal(signer.address, v.address);
      assert.equal((await signer.signMessage(v.message)).toLowerCase(), v.signature.toLowerCase(), v.message.slice(0, 40));
      checked++;
    }
    assert.ok(checked >= 20);
  });

  test(`SIP-018 and EIP-712 order vectors of ${dir}`, async () => {
    const orders = load(dir, 'order-signatures.json');
    // Schemes sign tuples; the SIP's own vector signs a bare string.
    for (const v of orders.sip018.filter((v) => v.message.type === 'tuple')) {
      const { scheme, order } = sip018Scheme(v);
      const request = structuredRequest(scheme, order);
      assert.equal(request.domainHex, v.domain_serialized, v.name);
      assert.equal(request.messageHex, v.message_serialized, v.name);
      assert.equal(hex(request.digest), v.digest, v.name);
      const signer = stacksSigner(v.private_key, { network: v.network });
      assert.equal(await signer.signStructured(request), v.signature_rsv, v.name);
    }
    for (const v of orders.eip712) {
      const { types, primaryType, domain, message } = v.typed_data;
      const scheme = { name: v.name, kind: 'eip712', unsigned: [], routes: [], types, primaryType, domain, fields: {}, constants: {} };
      const request = structuredRequest(scheme, message);
      assert.equal('0x' + hex(request.digest), v.digest, v.name);
      assert.equal(await evmSigner(v.private_key).signStructured(request), v.signature, v.name);
    }
  });
}

test('Stacks message signatures equal stacks.js for fresh keys, compressed and not', async () => {
  for (let i = 0; i < 6; i++) {
    const privateKey = hex(randomBytes(32)) + (i % 2 ? '01' : '');
    for (const network of ['mainnet', 'testnet']) {
      const signer = stacksSigner(privateKey, { network });
      assert.equal(signer.address, getAddressFromPrivateKey(privateKey, network));
      for (const message of MESSAGES) {
        const expected = signMessageHashRsv({ messageHash: hex(hashMessage(message)), privateKey });
        assert.equal(await signer.signMessage(message), expected);
      }
    }
  }
});

test('EVM message and typed-data signatures equal ethers for fresh keys', async () => {
  for (let i = 0; i < 6; i++) {
    const privateKey = '0x' + hex(randomBytes(32));
    const wallet = new Wallet(privateKey);
    const signer = evmSigner(privateKey);
    assert.equal(signer.address, wallet.address);
    for (const message of MESSAGES) {
      assert.equal(await signer.signMessage(message), await wallet.signMessage(message));
    }
    const types = {
      Inner: [{ name: 'tag', type: 'bytes4' }, { name: 'values', type: 'int64[]' }],
      Order: [
        { name: 'uuid', type: 'string' }, { name: 'owner', type: 'address' },
        { name: 'amountIn', type: 'uint256' }, { name: 'reduceOnly', type: 'bool' },
        { name: 'memo', type: 'bytes' }, { name: 'inner', type: 'Inner' },
      ],
    };
    const domain = { name: 'walletgate', version: '1', chainId: 1, verifyingContract: '0x000000000000000000000000000000000000dEaD' };
    const order = {
      uuid: crypto.randomUUID(), owner: wallet.address, amountIn: String(BigInt('0x' + hex(randomBytes(20)))),
      reduceOnly: i % 2 === 0, memo: '0x' + hex(randomBytes(i * 7)), inner: { tag: '0x' + hex(randomBytes(4)), values: ['-5', '7'] },
    };
    const expected = await wallet.signTypedData(domain, types, order);
    const withDomain = {
      EIP712Domain: [
        { name: 'name', type: 'string' }, { name: 'version', type: 'string' },
        { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' },
      ],
      ...types,
    };
    const scheme = { name: 'evm', kind: 'eip712', unsigned: [], routes: [], types: withDomain, primaryType: 'Order', domain, fields: {}, constants: {} };
    assert.equal(await signer.signStructured(structuredRequest(scheme, order)), expected);
  }
});

test('SIP-018 signatures equal stacks.js signStructuredData for fresh keys', async () => {
  for (let i = 0; i < 4; i++) {
    const privateKey = hex(randomBytes(32)) + '01';
    const signer = stacksSigner(privateKey);
    const amount = String(BigInt('0x' + hex(randomBytes(12))));
    const scheme = {
      name: 's', kind: 'sip018', unsigned: [], routes: [],
      domain: { name: 'walletgate', version: '1', 'chain-id': 1 },
      message: [
        { key: 'amount-in', type: 'uint', field: 'amountIn' },
        { key: 'owner', type: 'principal', field: 'owner' },
        { key: 'token', type: 'principal', field: 'token' },
        { key: 'uuid', type: 'string-ascii', field: 'uuid' },
        { key: 'valid-to', type: 'optional string-utf8', field: 'validTo' },
        { key: 'intent', type: 'string-ascii', const: 'TRANSFER' },
      ],
    };
    const order = { amountIn: amount, owner: signer.address, token: 'SP2ZNGJ85ENDY6QRHQ5P2D4FXKGZWCKTB2T0Z55KS.token-b', uuid: crypto.randomUUID(), validTo: i % 2 ? 'morgen ü' : null };
    const expected = signStructuredData({
      privateKey,
      domain: Cl.tuple({ name: Cl.stringAscii('walletgate'), version: Cl.stringAscii('1'), 'chain-id': Cl.uint(1) }),
      message: Cl.tuple({
        'amount-in': Cl.uint(BigInt(amount)), owner: Cl.principal(order.owner), token: Cl.principal(order.token),
        uuid: Cl.stringAscii(order.uuid), 'valid-to': order.validTo ? Cl.some(Cl.stringUtf8(order.validTo)) : Cl.none(),
        intent: Cl.stringAscii('TRANSFER'),
      }),
    });
    assert.equal(await signer.signStructured(structuredRequest(scheme, order)), expected);
  }
});

test('bad keys are refused with a WalletGateError, never a crash', () => {
  for (const bad of ['', 'zz', '00'.repeat(32), 'ab'.repeat(31), 'ab'.repeat(32) + '02', 'ff'.repeat(32)]) {
    assert.throws(() => stacksSigner(bad), (e) => e instanceof WalletGateError && e.code === 'BAD_INPUT', bad);
    assert.throws(() => evmSigner(bad), (e) => e instanceof WalletGateError && e.code === 'BAD_INPUT', bad);
  }
  assert.throws(() => stacksSigner('ab'.repeat(32), { network: 'devnet' }), WalletGateError);
});
