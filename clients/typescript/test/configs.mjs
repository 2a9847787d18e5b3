// TOML configurations for the gateways the tests start.
import { createHash, randomBytes } from 'node:crypto';

export const SERVICE_KEY = 'stk_service_' + randomBytes(18).toString('hex');
export const DOMAIN = 'api.exchange.example';

const generous = `
[rate_limits]
management_per_minute = 10000
management_per_hour = 100000
ip_signed_per_minute = 10000
ip_key_creation_per_minute = 10000
ip_key_creation_per_hour = 100000
`;

function routes(createScheme) {
  const route = (method, path, permission, owner, action, isPublic, signature) => `
[[routes]]
method = "${method}"
path = "${path}"
permission = "${permission}"
owner = "${owner}"
action = "${action}"
public = ${isPublic}
order_signature = ${signature}
`;
  return (
    route('POST', '/api/v1/orders/new', 'create', 'body', '', false, `"${createScheme}"`) +
    route('POST', '/api/v1/orders/{uuid}/execute', 'execute', 'order', 'execute_order', false, false) +
    route('PATCH', '/api/v1/orders/{uuid}/cancel', 'cancel', 'order', 'cancel_order', false, false) +
    route('GET', '/api/v1/orders/{uuid}', '', 'none', '', true, false) +
    route('GET', '/api/v1/orders', '', 'none', '', true, false)
  );
}

/** Both dialects, canonical-JSON orders, a bound domain. */
export const bothDialects = `
[signatures]
domain = "${DOMAIN}"

[[service_keys]]
sha256 = "${createHash('sha256').update(SERVICE_KEY).digest('hex')}"
name = "frontend"
${generous}`;

/** SIP-018 orders, the bundled backend's fields (docs/order-signing.md). */
export const sip018 = `${generous}
${routes('stacks-order')}
[order_schemes.stacks-order]
kind = "sip018"
domain = { name = "walletgate", version = "1", chain-id = 1 }
unsigned = []
[order_schemes.stacks-order.message]
owner           = { type = "principal",             field = "owner" }
input-token     = { type = "principal",             field = "inputToken" }
output-token    = { type = "principal",             field = "outputToken" }
amount-in       = { type = "uint",                  field = "amountIn" }
target-price    = { type = "string-ascii",          field = "targetPrice" }
direction       = { type = "string-ascii",          field = "direction" }
condition-token = { type = "principal",             field = "conditionToken" }
recipient       = { type = "principal",             field = "recipient" }
uuid            = { type = "string-ascii",          field = "uuid" }
valid-from      = { type = "optional string-ascii", field = "validFrom" }
valid-to        = { type = "optional string-ascii", field = "validTo" }
`;

/** EIP-712 orders over the bundled backend's fields. */
export const eip712 = `${generous}
${routes('evm-order')}
[order_schemes.evm-order]
kind = "eip712"
domain = { name = "walletgate", version = "1", chainId = 1 }
primary_type = "Order"
types.Order = [
  { name = "owner", type = "address" }, { name = "inputToken", type = "address" },
  { name = "outputToken", type = "address" }, { name = "amountIn", type = "uint256" },
  { name = "targetPrice", type = "string" }, { name = "direction", type = "string" },
  { name = "conditionToken", type = "address" }, { name = "recipient", type = "address" },
  { name = "uuid", type = "string" },
]
fields = {}
constants = {}
unsigned = ["validFrom", "validTo"]
`;

/** Two public requests a minute per address: the third is a 429. */
export const tight = `
[rate_limits]
public_per_minute = 2
`;
