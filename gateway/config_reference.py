"""The configuration reference, generated from the settings schema.

`walletgate config reference` renders it as Markdown (docs/configuration.md is
its output). Types and defaults come from the dataclasses in `gateway.config`;
only the prose lives here, one line per key, and a test fails when a key of
the schema has none, so the reference cannot fall behind the code.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, get_args, get_origin, get_type_hints

from gateway.config import ENV_PREFIX, TABLE_LISTS, Settings
from gateway.operator_config import TIERS_SECTION, TierSettings
from gateway.order_schemes_config import SECTION as ORDER_SCHEMES
from gateway.order_schemes_config import OrderSchemeTable

SECTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "listen": "The public listener: API clients, bots and wallets connect here.",
        "admin": "The admin listener: `/metrics`, `/healthz`, `/readyz`. Keep it off the "
        "public network.",
        "upstream": "The exchange API the gateway forwards admitted requests to.",
        "backend": "The bundled order backend (`walletgate run`, `walletgate backend`).",
        "store": "Where API keys, their usage and their events live.",
        "redis": "Shared rate-limit windows, replay set and key revocation for several "
        "gateway processes.",
        "keys": "API keys.",
        "rate_limits": "Requests allowed per window and scope.",
        "signatures": "Wallet-signed messages.",
        "limits": "Request size limits.",
        "usage": "Per-key usage statistics.",
        "portal": "The key portal (`GET /portal`): a page where wallet owners connect a "
        "wallet and create, rotate and revoke their own keys (docs/portal.md).",
        "log": "Log lines on stderr (text or JSON); reloaded on SIGHUP.",
        "service_keys": "`[[service_keys]]`: operator keys of the service-key dialect, stored "
        "by hash.",
        "routes": "`[[routes]]`: the route policy table. Without any entry the built-in "
        "table is in force; a request that matches no route is answered 404 and never "
        "forwarded.",
        "tiers": "`[tiers.NAME]`: rate-limit tiers. A wallet placed in a tier (operator API "
        "`PUT /admin/v1/wallets/{address}/tier` or `walletgate keys tier`) has these ceilings "
        "instead of `[rate_limits]`: each of its keys gets its own `rateLimit` capped by "
        "`per_minute`, and the tier's hour and day windows. Reloaded on SIGHUP; a tier removed "
        "while wallets use it falls back to `[rate_limits]` with a warning (docs/operations.md).",
        "order_schemes": "`[order_schemes.NAME]`: how orders are signed on the routes whose "
        "`order_signature` names the scheme (see docs/order-signing.md). `true` means the "
        'built-in `"canonical_json"`.',
    }
)

KEYS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "listen.host": 'Bind address; `"0.0.0.0"` listens on every interface.',
        "listen.port": "TCP port; 0 picks a free one (printed at start-up).",
        "listen.trusted_proxies": "CIDRs of load balancers and ingresses whose forwarding "
        "header (`listen.forwarded_header`) is believed when finding the client address.",
        "listen.forwarded_header": "The header trusted proxies append the client to: "
        '`"x-forwarded-for"` or `"forwarded"` (RFC 7239 `for=`). All its lines are one list, '
        "read from the right across trusted proxies; the other header is never believed.",
        "listen.access_log": "Older spelling of `log.access`: either one turns the access line on.",
        "listen.workers": "Processes serving the public port (`SO_REUSEPORT`); 0 = one per "
        "core. More than 1 needs `redis.url`; `--workers N` overrides. See docs/scaling.md.",
        "listen.head_timeout_s": "A request head (request line and headers) must arrive whole "
        "within this many seconds, else the connection is closed (slow clients; checked a "
        "few times per timeout, so closed within 1.25 times it).",
        "listen.body_timeout_s": "While a request body is arriving, no gap between two "
        "reads of it may last longer than this many seconds, else the connection is closed "
        "without an answer (a stalled upload; nginx's `client_body_timeout`). Checked with "
        "the head timeout, so closed within 1.25 times it.",
        "listen.keepalive_timeout_s": "Idle keep-alive connections are closed after this many "
        "seconds.",
        "listen.max_connections": "Open client connections in total; more are answered 503 and "
        "closed. The admin listener has no such cap.",
        "listen.max_connections_per_ip": "Open connections per client address (IPv6: per /64, "
        "4x per /56, 16x per /48); more are answered 503 and closed. Trusted proxies count "
        "only towards the total.",
        "listen.mode": '`"proxy"`: walletgate forwards what it admits to the upstream. '
        '`"auth"`: an existing ingress (nginx, Caddy, Traefik, Envoy) forwards and asks '
        "`/_walletgate/auth` for each decision; walletgate serves only decisions, key "
        "management, order creation and the portal (see docs/ingress.md). Needs "
        "`trusted_proxies`.",
        "admin.host": "Bind address of the admin listener.",
        "admin.port": "TCP port of the admin listener; 0 picks a free one.",
        "admin.ready_requires_upstream": "`true`: `/readyz` fails while the upstream is "
        "down. `false` (default): the upstream's state is only reported, so an exchange "
        "outage does not take every replica out of its load balancer.",
        "admin.token": "Bearer token required for `/metrics` and `/readyz`; empty = none. "
        "`/healthz` stays open for container health checks.",
        "admin.tokens": "`[[admin.tokens]]`: operator API tokens (`/admin/v1/`), each "
        '`{ sha256 = "<hex of the token>", name = "support", scope = "read" }` (or `"write"`); '
        "the token itself is never configured (`walletgate keys hash` prints the hash). "
        "None = every `/admin/v1/` path answers 404. See docs/operations.md.",
        "upstream.url": "Base URL of the exchange API, e.g. `http://10.0.0.5:8000`; empty "
        "with `walletgate run` = the bundled backend.",
        "upstream.timeout_s": "Connect and read timeout in seconds; slower answers get 504.",
        "upstream.max_connections": "Size of the one shared upstream connection pool.",
        "upstream.max_head_bytes": (
            "Largest upstream answer head (status line and header fields) in bytes; "
            "a larger one is a 502 and its connection is closed."
        ),
        "upstream.max_headers": (
            "Most header fields in an upstream answer; more is a 502 and its connection is closed."
        ),
        "upstream.owner_field": "Dotted path of the owner in the upstream's "
        "`GET /api/v1/orders/{uuid}` answer.",
        "upstream.owner_cache_size": "Order owners remembered (owners never change).",
        "backend.host": "Bind address of the bundled backend.",
        "backend.port": "TCP port of the bundled backend; 0 picks a free one.",
        "backend.database": "SQLite file of the bundled backend's orders.",
        "store.url": "`sqlite:///relative.db`, `sqlite:////absolute.db` or "
        "`postgresql://user:password@host/db` (several gateway processes share PostgreSQL). "
        "Masked by `config check`.",
        "store.password": "PostgreSQL's password, put into a `store.url` that names none "
        "(for a password kept in a secret file: `WALLETGATE_STORE__PASSWORD_FILE`). "
        "Masked by `config check`.",
        "redis.url": "`redis://host:6379/0`, or `redis+cluster://host:port` for a Redis "
        "Cluster; empty = in-process limiter and replay set. Masked by `config check`.",
        "redis.on_error": '`"closed"` answers 503 on limited routes while Redis is '
        'unreachable; `"open"` admits and counts `walletgate_rate_limiter_errors_total`. '
        "On a Redis Cluster it applies only to the keys held by a failed or slow node.",
        "redis.prefix": "Prefix of every Redis key, so several deployments can share one Redis.",
        "keys.prefix": "Prefix of keys made by `POST /api/v1/api-keys` (wallet-signed keys).",
        "keys.evm_prefix": "Prefix of keys made by `POST /api-key/generate` (service-key dialect).",
        "keys.one_active_per_wallet_evm": "`POST /api-key/generate` answers 409 while the "
        "wallet already has an active key.",
        "keys.default_permissions": "Granted to `/api-key/generate` keys and to "
        "`create_api_key` messages that name no permissions.",
        "keys.cache_size": "Key records kept in memory by hash.",
        "keys.invalidation_interval_s": "How often a running gateway picks up revocations "
        "made elsewhere (CLI, other instances); keep it under 1 s.",
        "keys.max_active_per_wallet": "Active keys one wallet may hold; creating, generating or "
        "rotating beyond it answers 409 `KEY_LIMIT_REACHED`.",
        "keys.unknown_key_cache_s": "A well-formed key the store does not know is refused from "
        "memory for this many seconds (0 = off), so repeated made-up keys stop reaching the "
        "store.",
        "rate_limits.per_minute": "Per API key, per minute (a key may ask for less when it is "
        "created); also per wallet for signed requests.",
        "rate_limits.per_hour": "Per API key (and per signing wallet), per hour.",
        "rate_limits.per_day": "Per API key (and per signing wallet), per day.",
        "rate_limits.public_per_minute": "Per client IP on public routes and for failed "
        "authentication (IPv6: per /64, 4x per /56, 16x per /48).",
        "rate_limits.management_per_minute": "Key management, per wallet, per minute.",
        "rate_limits.management_per_hour": "Key management, per wallet, per hour.",
        "rate_limits.ip_signed_per_minute": "Wallet-signed requests per client IP, per minute, "
        "charged before the signature is checked (wallets are free, addresses are not). "
        "IPv6: per /64, and 4x per /56 and 16x per /48 at once.",
        "rate_limits.ip_key_creation_per_minute": "Requests that would create a key, per client "
        "IP, per minute (service-key callers are exempt). IPv6: per /64, 4x per /56, 16x per "
        "/48.",
        "rate_limits.ip_key_creation_per_hour": "Requests that would create a key, per client "
        "IP, per hour (IPv6 prefixes as per minute).",
        "rate_limits.operator_per_minute": "Operator API calls per token, per minute (shared "
        "by every instance on Redis).",
        "tiers.per_minute": "Ceiling of each key's own `rateLimit` (and of signed requests) "
        "for a wallet in the tier, per minute.",
        "tiers.per_hour": "Per key (and per signing wallet) of the tier, per hour.",
        "tiers.per_day": "Per key (and per signing wallet) of the tier, per day.",
        "signatures.max_age_s": "A signed message's timestamp may be this many seconds old "
        "(or ahead).",
        "signatures.chains": 'Wallets accepted: `"stacks"`, `"evm"` or both.',
        "signatures.replay_cache_size": "Signed messages remembered to refuse replays "
        "(in-process set; Redis has no such bound).",
        "signatures.stacks_network": 'Stacks addresses accepted: `"mainnet"` (SP), `"testnet"` '
        '(ST) or `"any"`; binds each signed message to the network the gateway serves.',
        "signatures.domain": 'The host clients reach this gateway by (`"api.exchange.example"`). '
        'When set, every signed message must carry `"domain": "<it>"`, so a signature '
        "collected by another site cannot be spent here; empty = unbound (warned about when "
        "listening beyond loopback). Published at `GET /api/v1/signing`.",
        "limits.max_body_bytes": "Larger request bodies get 413.",
        "usage.history_days": "Days of hourly usage per key kept (`usageStats.hourly`); "
        "older hours are deleted at a flush.",
        "log.level": "`debug`, `info`, `warning` or `error`; `--log-level` before the "
        "command overrides it.",
        "log.format": '`"text"` for people, `"json"` for one object per line; '
        "`--log-format` overrides it.",
        "log.access": "One line per request (event `request`: route template, status, "
        "durations, client IP, auth, key id, wallet, error code). Costs throughput.",
        "log.health_interval_s": "How often the store, the limiter and the upstream are "
        "probed, so each outage and recovery is logged once.",
        "usage.flush_interval_s": "How often per-key usage statistics are written to the "
        "store (they are counted in memory in between).",
        "portal.enabled": "Serve the key portal and its files under `/portal`; `false` = "
        "`/portal` answers 404 like any unknown path.",
        "portal.title": "The exchange's name for the page (its title and header), up to 80 "
        "characters.",
        "portal.accent_color": 'The page\'s accent colour, `"#rrggbb"` or `"#rgb"`; empty = '
        "walletgate's indigo. A bad colour stops start-up.",
        "portal.logo": "A logo file (.png, .svg, .jpg, .jpeg, .webp; at most 512 KiB) shown in "
        "the page's header and served by the gateway under `/portal/`, so the page still "
        "loads nothing from elsewhere; empty = none. A missing file stops start-up.",
        "service_keys.sha256": "SHA-256 hex of the service key (`walletgate keys hash` "
        "prints it); the key itself is never configured.",
        "service_keys.name": "Name shown in logs and audit events (`service:<name>`).",
        "routes.method": "HTTP method.",
        "routes.path": "Path template, e.g. `/api/v1/orders/{uuid}/execute`.",
        "routes.permission": 'Permission a key needs: `"create"`, `"execute"`, `"cancel"`, '
        "or empty for none.",
        "routes.owner": 'Where the order owner comes from: `"order"` (ask the upstream), '
        '`"body"` (the body field `owner`) or `"none"`.',
        "routes.action": "Signed-message action accepted instead of a key (e.g. "
        "`execute_order`); empty = keys only.",
        "routes.public": "Served without credentials (per-IP rate limit); a key may still be sent.",
        "routes.order_signature": "The body is an order that must carry its owner's signature: "
        '`true` (`"canonical_json"`), the name of an `[order_schemes.NAME]` table, or '
        "`false`.",
        "routes.order_fields": "Fields this route's orders carry; each must be signed by the "
        "scheme or listed in its `unsigned`. Default for `POST /api/v1/orders/new`: the "
        "bundled backend's order fields.",
        "order_schemes.kind": '`"canonical_json"`, `"sip018"` (Stacks structured data) or '
        '`"eip712"` (EVM typed data).',
        "order_schemes.domain": "SIP-018: `{ name, version, chain-id }` (1 mainnet, "
        "2147483648 testnet); EIP-712: any of `name`, `version`, `chainId`, "
        "`verifyingContract`, `salt`.",
        "order_schemes.unsigned": "Body fields deliberately left unsigned (a warning names "
        "them at start-up).",
        "order_schemes.message": "SIP-018 tuple: `key = { type, field }` or "
        "`{ type, const }`; types `uint`, `int`, `bool`, `principal`, `string-ascii`, "
        "`string-utf8`, `buff`, each optionally `optional X`, and `none`.",
        "order_schemes.onchain": "SIP-018: accept only the compressed key's address, as "
        "Clarity's `secp256k1-recover?` returns it.",
        "order_schemes.primary_type": "EIP-712: the struct an order is signed as.",
        "order_schemes.types": "EIP-712: struct declarations, `Name = [{ name, type }, ...]` "
        "(EIP712Domain is built from `domain`).",
        "order_schemes.fields": "EIP-712: member = body field, where the names differ.",
        "order_schemes.constants": "EIP-712: member = constant value the body does not carry.",
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyReference:
    section: str
    key: str
    type_name: str
    default: str
    description: str

    @property
    def env(self) -> str:
        if self.section in (*TABLE_LISTS, ORDER_SCHEMES, TIERS_SECTION):
            return f"{ENV_PREFIX}{self.section.upper()}__JSON"
        return f"{ENV_PREFIX}{self.section.upper()}__{self.key.upper()}"


def schema_keys() -> Iterator[KeyReference]:
    """Every key of the settings schema, in declaration order, with its prose."""
    sections = get_type_hints(Settings)
    for section_field in dataclasses.fields(Settings):
        section = section_field.name
        cls: Any = {ORDER_SCHEMES: OrderSchemeTable, TIERS_SECTION: TierSettings}.get(section)
        cls = cls or TABLE_LISTS.get(section) or sections[section]
        hints = get_type_hints(cls)
        for key_field in dataclasses.fields(cls):
            if section == TIERS_SECTION and key_field.name == "name":
                continue  # the table's own name, [tiers.NAME]
            yield KeyReference(
                section=section,
                key=key_field.name,
                type_name=_type_name(hints[key_field.name]),
                default=_default(key_field),
                description=KEYS.get(f"{section}.{key_field.name}", ""),
            )


def _type_name(kind: Any) -> str:
    if dataclasses.is_dataclass(kind):
        return "table"
    if get_origin(kind) is tuple:
        return f"list of {_type_name(get_args(kind)[0])}"
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return "string"  # one of the values its description names
    if isinstance(kind, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            kind.__name__, kind.__name__
        )
    args = [a for a in get_args(kind) if a is not type(None)]
    return " or ".join(_type_name(a) for a in args) or str(kind)


def _default(key_field: dataclasses.Field[Any]) -> str:
    if key_field.default is not dataclasses.MISSING:
        value = key_field.default
    elif key_field.default_factory is not dataclasses.MISSING:
        value = key_field.default_factory()
    else:
        return "(required)"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value)}`"


def reference_markdown() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated by `walletgate config reference` from the settings schema; do not edit",
        "by hand. One TOML file (`--config PATH` or `$WALLETGATE_CONFIG`); every key can be",
        "overridden from the environment as `WALLETGATE_<SECTION>__<KEY>` (lists as JSON or",
        "comma-separated text; the arrays of tables `[[service_keys]]` and `[[routes]]` as",
        "JSON in `WALLETGATE_<SECTION>__JSON`). `WALLETGATE_<SECTION>__<KEY>_FILE=PATH` reads",
        "the value from a file instead (Docker and Kubernetes secrets; one trailing line",
        "break dropped). An unknown variable, or a variable set both ways, stops start-up",
        "naming it; a one-underscore `WALLETGATE_SECTION_KEY` that names a setting is not",
        "applied and is warned about. A bad value stops start-up with one line",
        "naming the key (exit code 2). `config/walletgate.toml` is a commented example with",
        "every default.",
    ]
    current = ""
    for ref in schema_keys():
        if ref.section != current:
            current = ref.section
            title = f"[[{current}]]" if current in TABLE_LISTS else f"[{current}]"
            title = f"[{current}.NAME]" if current in (ORDER_SCHEMES, TIERS_SECTION) else title
            lines += ["", f"## `{title}`", "", SECTIONS.get(current, ""), ""]
            lines += [
                "| key | type | default | environment | meaning |",
                "| --- | --- | --- | --- | --- |",
            ]
        lines.append(
            f"| `{ref.key}` | {ref.type_name} | {ref.default} | `{ref.env}` | {ref.description} |"
        )
    return "\n".join(lines) + "\n"
