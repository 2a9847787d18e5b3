// Orders signed with the scheme the route publishes: SIP-018 and EIP-712
// (canonical JSON is in client.test.mjs), against real gateways configured so.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cl, signStructuredData } from '@stacks/transactions';
import { Wallet } from 'ethers';
import { evmSigner, stacksSigner, WalletGateClient } from '../dist/index.js';
import { startWalletgate } from '../scripts/walletgate.mjs';
import { eip712, sip018 } from './configs.mjs';
import { freshEvmKey, freshStacksKey, orderFor, rejects } from './support.mjs';

const gateways = {};
before(async () => {
  [gateways.sip018, gateways.eip712] = await Promise.all([
    startWalletgate({ config: sip018 }),
    startWalletgate({ config: eip712 }),
  ]);
});
after(async () => Promise.all(Object.values(gateways).map((g) => g.stop())));

test('SIP-018: a Stacks wallet and its key create, execute and cancel orders', async () => {
  for (const key of [freshStacksKey(), freshStacksKey().slice(0, 64)]) {
    const signer = stacksSigner(key);
    const wallet = new WalletGateClient({ baseUrl: gateways.sip018.url, signer });
    const scheme = await wallet.orderScheme('POST', '/api/v1/orders/new');
    assert.equal(scheme.kind, 'sip018');
    const created = await wallet.createOrder({ ...orderFor(signer.address), validTo: '2030-01-01T00:00:00Z' });
    assert.equal(created.data.owner, signer.address);
    await wallet.cancelOrder(created.data.uuid);
    const { apiKey } = await wallet.createApiKey({ keyName: 'sip018', permissions: ['create', 'execute'] });
    const bot = new WalletGateClient({ baseUrl: gateways.sip018.url, signer, apiKey });
    const order = await bot.createOrder(orderFor(signer.address));
    assert.match((await bot.executeOrder(order.data.uuid)).txid, /^0x/);
  }
});

test('SIP-018: a changed signed field, or another chain, is refused', async () => {
  const signer = stacksSigner(freshStacksKey());
  const wallet = new WalletGateClient({ baseUrl: gateways.sip018.url, signer });
  const forged = {
    ...signer,
    signStructured: (request) => signer.signStructured({ ...request, digest: new Uint8Array(32).fill(7) }),
  };
  const impostor = new WalletGateClient({ baseUrl: gateways.sip018.url, signer: forged });
  await rejects(impostor.createOrder(orderFor(signer.address)), 401, 'INVALID_SIGNATURE');
  const evm = new WalletGateClient({ baseUrl: gateways.sip018.url, signer: evmSigner(freshEvmKey()) });
  await rejects(evm.createOrder(orderFor(signer.address)), 0, 'BAD_INPUT');
  const plain = new WalletGateClient({
    baseUrl: gateways.sip018.url,
    signer: { chain: 'stacks', address: signer.address, signMessage: signer.signMessage },
  });
  await rejects(plain.createOrder(orderFor(signer.address)), 0, 'UNSUPPORTED_SCHEME');
  await rejects(wallet.createOrder({ ...orderFor(signer.address), amountIn: 'lots' }), 0, 'BAD_INPUT');
});

test('EIP-712: an EVM wallet and its key create, execute and cancel orders', async () => {
  const signer = evmSigner(freshEvmKey());
  const wallet = new WalletGateClient({ baseUrl: gateways.eip712.url, signer });
  const scheme = await wallet.orderScheme('POST', '/api/v1/orders/new');
  assert.equal(scheme.kind, 'eip712');
  const created = await wallet.createOrder(orderFor(signer.address));
  await wallet.cancelOrder(created.data.uuid);
  const { apiKey } = await wallet.createApiKey({ keyName: 'eip712', permissions: ['create', 'execute'] });
  const bot = new WalletGateClient({ baseUrl: gateways.eip712.url, signer, apiKey });
  const order = await bot.createOrder(orderFor(signer.address));
  assert.match((await bot.executeOrder(order.data.uuid)).txid, /^0x/);
  // A field nobody signed may not ride along.
  await rejects(wallet.createOrder({ ...orderFor(signer.address), extra: 'x' }), 400, 'INVALID_MESSAGE');
});

test('signer objects of wallets: stacks.js and ethers sign what the client hands them', async () => {
  // As a wallet would: SIP-018 from the Clarity values, EIP-712 from the typed data.
  const stacksKey = freshStacksKey();
  const stacks = stacksSigner(stacksKey);
  const leatherLike = {
    chain: 'stacks',
    address: stacks.address,
    signMessage: stacks.signMessage,
    signStructured: ({ domainHex, messageHex }) =>
      signStructuredData({ domain: Cl.deserialize(domainHex), message: Cl.deserialize(messageHex), privateKey: stacksKey }),
  };
  const viaStacksJs = new WalletGateClient({ baseUrl: gateways.sip018.url, signer: leatherLike });
  assert.equal((await viaStacksJs.createOrder(orderFor(stacks.address))).data.status, 'open');

  const wallet = new Wallet(freshEvmKey());
  const metaMaskLike = {
    chain: 'evm',
    address: wallet.address,
    signMessage: (text) => wallet.signMessage(text),
    signStructured: ({ typedData }) => {
      const { EIP712Domain: _derived, ...types } = typedData.types;
      return wallet.signTypedData(typedData.domain, types, typedData.message);
    },
  };
  const viaEthers = new WalletGateClient({ baseUrl: gateways.eip712.url, signer: metaMaskLike });
  assert.equal((await viaEthers.createOrder(orderFor(wallet.address))).data.status, 'open');
});
