// The signing vectors of the repository (tests/vectors: made by stacks.js and ethers).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dirs = [fileURLToPath(new URL('../../../tests/vectors/', import.meta.url))].filter((dir) =>
  existsSync(dir),
);

export const vectorDirs = dirs;
export const load = (dir, name) => JSON.parse(readFileSync(dir + name, 'utf8'));

const CLARITY = { uint: 'uint', int: 'int', bool: 'bool', principal: 'principal', ascii: 'string-ascii', utf8: 'string-utf8', buffer: 'buff' };

/** A vector's Clarity value as a scheme type and a body value. */
export function typeAndValue(cv) {
  if (cv.type === 'none') return ['none', null];
  if (cv.type === 'some') {
    const [type, value] = typeAndValue(cv.value);
    return [`optional ${type}`, value];
  }
  if (cv.type === 'list') {
    const items = cv.value.map(typeAndValue);
    return [`list ${items[0][0]}`, items.map(([, v]) => v)];
  }
  if (cv.type === 'buffer') return ['buff', '0x' + cv.value];
  return [CLARITY[cv.type], cv.value];
}

/** A SIP-018 vector as a published scheme document and an order. */
export function sip018Scheme(vector) {
  const domain = vector.domain.value;
  const order = {};
  const message = Object.entries(vector.message.value).map(([key, cv]) => {
    const [type, value] = typeAndValue(cv);
    if (type === 'none') return { key, type };
    order[key] = value;
    return { key, type, field: key };
  });
  const scheme = {
    name: vector.name,
    kind: 'sip018',
    unsigned: [],
    routes: [],
    domain: { name: domain.name.value, version: domain.version.value, 'chain-id': Number(domain['chain-id'].value) },
    message,
  };
  return { scheme, order };
}
