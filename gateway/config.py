"""Settings: frozen dataclasses read from one TOML file, then overridden by
`WALLETGATE_<SECTION>__<KEY>` environment variables (docs/configuration.md).

Every value is checked once, here, so the rest of the code trusts its
settings. A bad value raises `ConfigError` whose text names the key; the CLI
prints that one line and exits with code 2.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints
from urllib.parse import quote, urlsplit, urlunsplit

from gateway import order_schemes_config
from gateway.config_env import ENV_PREFIX as ENV_PREFIX
from gateway.config_env import EnvVarError, Schema, environment_values
from gateway.config_env import environment_warnings as _environment_warnings
from gateway.operator_config import (
    TIERS_SECTION,
    OperatorConfigError,
    OperatorTokenSettings,
    TierSettings,
    parse_tiers,
    parse_tokens,
    tier_table,
)
from gateway.order_spec import SchemeSpec, spec_table
from gateway.portal_brand import BrandError, check_brand

PERMISSIONS = ("create", "execute", "cancel")
CHAINS = ("stacks", "evm")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")
FORWARDED_HEADERS = ("x-forwarded-for", "forwarded")
# A host name or address as clients type it, with an optional port: no scheme,
# path or user part, and lower case so that one deployment has one spelling.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST = rf"(?:\[[0-9a-f:.]+\]|{_LABEL}(?:\.{_LABEL})*)"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$){_HOST}(?::[0-9]{{1,5}})?")


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key."""


# Closed sets of the configuration: a value outside one is refused when the
# file is read, so the code that uses them never meets a stray string.


class ListenMode(StrEnum):
    PROXY = "proxy"  # walletgate forwards what it admits
    AUTH = "auth"  # an ingress forwards and asks walletgate only for the decision


class OnError(StrEnum):
    """What a rate-limit decision is when the shared limiter cannot be reached."""

    CLOSED = "closed"  # 503
    OPEN = "open"  # admitted, uncounted


class StacksNetwork(StrEnum):
    MAINNET = "mainnet"
    TESTNET = "testnet"
    ANY = "any"


class OwnerSource(StrEnum):
    """Where a route learns the order's owner."""

    ORDER = "order"  # ask the upstream (GET /api/v1/orders/{uuid}), cached
    BODY = "body"  # the body's `owner` field
    NONE = "none"  # no owner to check


def _choices(kind: type[StrEnum]) -> str:
    names = [f'"{member.value}"' for member in kind]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


@dataclass(frozen=True, slots=True)
class ListenSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Peers whose X-Forwarded-For is believed when finding the client address.
    trusted_proxies: tuple[str, ...] = ()
    # Which header trusted proxies append the client to; the other is never believed.
    forwarded_header: str = "x-forwarded-for"
    # Older spelling of log.access; either one turns the access line on.
    access_log: bool = False
    # Processes sharing the port (SO_REUSEPORT); 0 = one per core.
    workers: int = 1
    # Slow and idle clients (slowloris): a request head must arrive whole within
    # head_timeout_s, a request body may not stall for longer than body_timeout_s,
    # an idle keep-alive connection closes after keepalive_timeout_s, and
    # connections are capped in total and per client IP (trusted proxies exempt).
    head_timeout_s: float = 15.0
    body_timeout_s: float = 30.0
    keepalive_timeout_s: float = 75.0
    max_connections: int = 10_000
    max_connections_per_ip: int = 256
    # "proxy": walletgate forwards what it admits; "auth": an ingress forwards
    # and asks walletgate only for the decision (/_walletgate/auth).
    mode: ListenMode = ListenMode.PROXY


@dataclass(frozen=True, slots=True)
class AdminSettings:
    host: str = "127.0.0.1"
    port: int = 9100
    token: str = ""
    # An exchange outage must not take every replica out of its load balancer,
    # so /readyz only reports the upstream unless this is set.
    ready_requires_upstream: bool = False
    # `[[admin.tokens]]`: operator API tokens by hash; none = no /admin/v1/ at all.
    tokens: tuple[OperatorTokenSettings, ...] = ()


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    url: str = ""
    timeout_s: float = 10.0
    max_connections: int = 100
    # Bounds on an upstream answer's head (status line and header fields); larger is a 502.
    max_head_bytes: int = 65536
    max_headers: int = 100
    # Where an exchange's `GET /api/v1/orders/{uuid}` answer keeps the owner.
    owner_field: str = "data.owner"
    owner_cache_size: int = 100_000


@dataclass(frozen=True, slots=True)
class BackendSettings:
    host: str = "127.0.0.1"
    port: int = 8081
    database: str = "data/orders.db"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = "sqlite:///data/walletgate.db"
    # PostgreSQL's password apart from the URL (e.g. WALLETGATE_STORE__PASSWORD_FILE
    # from a Docker secret); put into a URL that names none.
    password: str = ""


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str = ""
    on_error: OnError = OnError.CLOSED
    prefix: str = "wg"


@dataclass(frozen=True, slots=True)
class KeySettings:
    prefix: str = "ck_live_"
    evm_prefix: str = "stk_"
    one_active_per_wallet_evm: bool = True
    default_permissions: tuple[str, ...] = PERMISSIONS
    cache_size: int = 100_000
    # How often a running gateway asks the store which keys changed elsewhere
    # (CLI, other instances); revocation must reach it within 1 s.
    invalidation_interval_s: float = 0.5
    # Active keys one wallet may hold at once (create, generate and rotate obey it).
    max_active_per_wallet: int = 25
    # Well-formed keys the store did not know are refused from memory this long.
    unknown_key_cache_s: float = 5.0


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    per_minute: int = 100
    per_hour: int = 1000
    per_day: int = 10000
    public_per_minute: int = 300
    management_per_minute: int = 5
    management_per_hour: int = 20
    # Per client IP, charged before any signature is checked: every wallet-signed
    # request, and (tighter) every request that would create a key.
    ip_signed_per_minute: int = 120
    ip_key_creation_per_minute: int = 10
    ip_key_creation_per_hour: int = 60
    # Per operator token, on the operator API (/admin/v1/).
    operator_per_minute: int = 120


@dataclass(frozen=True, slots=True)
class SignatureSettings:
    max_age_s: float = 300.0
    chains: tuple[str, ...] = CHAINS
    replay_cache_size: int = 500_000
    # The Stacks network whose addresses may sign: "mainnet", "testnet" or "any".
    stacks_network: StacksNetwork = StacksNetwork.MAINNET
    # The host clients reach this deployment by ("api.exchange.example"). When
    # set, every signed message must carry `"domain": "<this>"`, so a signature
    # collected by another site cannot be spent here; empty = unbound.
    domain: str = ""


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_body_bytes: int = 65536


@dataclass(frozen=True, slots=True)
class UsageSettings:
    flush_interval_s: float = 1.0
    # Hourly counts per key are kept this long, then pruned at a flush.
    history_days: int = 7


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = "info"
    format: str = "text"
    access: bool = False
    # How often the store, limiter and upstream are probed, so an outage and
    # a recovery are each logged once even when no request arrives.
    health_interval_s: float = 5.0


@dataclass(frozen=True, slots=True)
class PortalSettings:
    # The key portal (GET /portal): a page where wallet owners manage their keys.
    enabled: bool = True
    # The exchange's name on the page, its accent colour ("#rrggbb", "" = the
    # default) and a logo file (.png, .svg, .jpg, .webp) served under /portal/.
    title: str = "API keys"
    accent_color: str = ""
    logo: str = ""


@dataclass(frozen=True, slots=True)
class ServiceKeySettings:
    sha256: str
    name: str = "service"


@dataclass(frozen=True, slots=True)
class RouteSettings:
    method: str
    path: str
    permission: str = ""
    owner: OwnerSource = OwnerSource.NONE
    action: str = ""
    public: bool = False
    # The body is an order that must carry its owner's signature, under the
    # named scheme (order_schemes_config.py); true = "canonical_json".
    order_signature: bool | str = False
    # The fields this route's orders carry; each must be signed or `unsigned`.
    order_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    listen: ListenSettings = field(default_factory=ListenSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    backend: BackendSettings = field(default_factory=BackendSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    keys: KeySettings = field(default_factory=KeySettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    signatures: SignatureSettings = field(default_factory=SignatureSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    usage: UsageSettings = field(default_factory=UsageSettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    log: LogSettings = field(default_factory=LogSettings)
    service_keys: tuple[ServiceKeySettings, ...] = ()
    routes: tuple[RouteSettings, ...] = ()
    # `[order_schemes.NAME]` tables, parsed by order_schemes_config; compiled and
    # checked against the routes by wallets.order_checks (it needs the encoders).
    order_schemes: tuple[SchemeSpec, ...] = ()
    # `[tiers.NAME]` tables: rate-limit ceilings a wallet can be placed in.
    tiers: tuple[TierSettings, ...] = ()

    def tier(self, name: str | None) -> TierSettings | None:
        return next((t for t in self.tiers if t.name == name), None) if name else None

    def replace(self, section: str, **values: Any) -> Settings:
        """A copy with some keys of one section changed (CLI flags, tests)."""
        current = getattr(self, section)
        if dataclasses.is_dataclass(current):
            hints = get_type_hints(type(current))
            values = {
                key: _coerce(f"{section}.{key}", hints[key], value)
                if _is_choice(hints.get(key))
                else value
                for key, value in values.items()
            }
        updated = dataclasses.replace(current, **values)
        settings = dataclasses.replace(self, **{section: updated})
        validate(settings)
        return settings


SECRET_KEYS = {("admin", "token"), ("store", "url"), ("store", "password"), ("redis", "url")}
TABLE_LISTS = {"service_keys": ServiceKeySettings, "routes": RouteSettings}


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Built-in defaults, then the TOML file, then the environment."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_PREFIX + "CONFIG") or None
    raw: dict[str, Any] = {}
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config: file not found: {path}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
    _apply_environment(raw, environ)
    settings = _with_store_password(_build(raw))
    validate(settings)
    return settings


# Sections whose environment value is one JSON document (arrays and maps of tables).
_JSON_SECTIONS = (*TABLE_LISTS, order_schemes_config.SECTION, TIERS_SECTION)


def _schema() -> Schema:
    sections: dict[str, frozenset[str] | None] = {}
    for name, kind in get_type_hints(Settings).items():
        if name in _JSON_SECTIONS:
            sections[name] = None
        else:
            sections[name] = frozenset(f.name for f in dataclasses.fields(kind))
    return Schema(sections)


def environment_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables that look like settings but are not applied (one underscore)."""
    return _environment_warnings(os.environ if environ is None else environ, _schema())


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    try:
        values = list(environment_values(environ, _schema()))
    except EnvVarError as exc:
        raise ConfigError(str(exc)) from None
    for value in values:
        if value.section in _JSON_SECTIONS:
            # Arrays of tables come as JSON, e.g. WALLETGATE_SERVICE_KEYS__JSON='[...]'.
            raw[value.section] = _parse_json(f"{value.section} ({value.variable})", value.text)
            continue
        raw.setdefault(value.section, {})[value.key] = _EnvText(value.text)


def _with_store_password(settings: Settings) -> Settings:
    store = settings.store
    parts = urlsplit(store.url)
    if not store.password or not parts.hostname:
        return settings
    if parts.password is not None:
        raise ConfigError("store.password: store.url names a password too; keep one")
    user = parts.username or ""
    netloc = f"{user}:{quote(store.password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return dataclasses.replace(
        settings, store=dataclasses.replace(store, url=urlunsplit(parts._replace(netloc=netloc)))
    )


class _EnvText(str):
    """A value from the environment: text to be coerced to the field's type."""


def _parse_json(key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"{key}: expected JSON") from None


def _build(raw: Mapping[str, Any]) -> Settings:
    sections: dict[str, Any] = {}
    hints = get_type_hints(Settings)
    for name, value in raw.items():
        if name not in hints:
            raise ConfigError(f"{name}: unknown section")
        if name == order_schemes_config.SECTION:
            try:
                sections[name] = order_schemes_config.parse_order_schemes(value)
            except order_schemes_config.SchemeConfigErrors as exc:
                raise ConfigError(str(exc)) from None
        elif name == TIERS_SECTION:
            try:
                sections[name] = parse_tiers(value)
            except OperatorConfigError as exc:
                raise ConfigError(str(exc)) from None
        elif name in TABLE_LISTS:
            if not isinstance(value, list):
                raise ConfigError(f"{name}: expected a list of tables")
            sections[name] = tuple(
                _build_section(f"{name}[{i}]", TABLE_LISTS[name], item)
                for i, item in enumerate(value)
            )
        else:
            sections[name] = _build_section(name, hints[name], value)
    return Settings(**sections)


def _build_section(name: str, cls: type, values: Any) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{name}: expected a table")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key")
        kwargs[key] = _coerce(f"{name}.{key}", hints[key], value)
    try:
        return cls(**kwargs)
    except TypeError:
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in kwargs]
        raise ConfigError(f"{name}.{missing[0]}: required") from None


def _is_choice(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, StrEnum)


def _coerce(key: str, kind: Any, value: Any) -> Any:
    from_env = isinstance(value, _EnvText)
    if kind == tuple[OperatorTokenSettings, ...]:
        try:
            return parse_tokens(key, str(value) if from_env else value)
        except OperatorConfigError as exc:
            raise ConfigError(str(exc)) from None
    if _is_choice(kind):
        try:
            return kind(str(value).strip() if from_env else value)
        except ValueError:
            raise ConfigError(f"{key}: expected {_choices(kind)}") from None
    if kind == bool | str:
        # A route's order_signature: true, false, or a scheme name.
        if isinstance(value, bool):
            return value
        if from_env and str(value).strip().lower() in ("true", "false"):
            return str(value).strip().lower() == "true"
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected true, false or a scheme name")
        return str(value)
    if get_origin(kind) is tuple:
        if from_env:
            text = str(value).strip()
            value = _parse_json(key, text) if text.startswith("[") else _split(text)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings")
        assert get_args(kind)[0] is str
        return tuple(value)
    if kind is bool:
        if from_env:
            lowered = str(value).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false")
    if kind in (int, float):
        if from_env:
            try:
                value = kind(str(value).strip())
            except ValueError:
                raise ConfigError(f"{key}: expected a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number")
        if kind is int and not isinstance(value, int):
            raise ConfigError(f"{key}: expected a whole number")
        return kind(value)
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string")
    return str(value)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def validate(settings: Settings) -> None:
    """Range and format checks; raises ConfigError naming the first bad key."""
    for section in ("listen", "admin", "backend"):
        port = getattr(settings, section).port
        if not 0 <= port <= 65535:
            raise ConfigError(f"{section}.port: {port} is not a port number")
    for cidr in settings.listen.trusted_proxies:
        _check_cidr("listen.trusted_proxies", cidr)
    _check_workers(settings)
    if settings.listen.forwarded_header not in FORWARDED_HEADERS:
        raise ConfigError('listen.forwarded_header: expected "x-forwarded-for" or "forwarded"')
    for name in ("head_timeout_s", "body_timeout_s", "keepalive_timeout_s", "max_connections"):
        _check_positive(f"listen.{name}", getattr(settings.listen, name))
    _check_positive("listen.max_connections_per_ip", settings.listen.max_connections_per_ip)
    if settings.listen.mode == ListenMode.AUTH and not settings.listen.trusted_proxies:
        # The decision endpoint answers trusted proxies only: nobody could use it.
        raise ConfigError("listen.trusted_proxies: auth mode needs the ingress's address here")
    _check_url("upstream.url", settings.upstream.url, ("http", "https"), allow_empty=True)
    _check_url("store.url", settings.store.url, ("sqlite", "postgresql", "postgres"))
    _check_url("redis.url", settings.redis.url, REDIS_SCHEMES, allow_empty=True)
    _check_positive("upstream.timeout_s", settings.upstream.timeout_s)
    _check_positive("upstream.max_connections", settings.upstream.max_connections)
    _check_positive("upstream.max_head_bytes", settings.upstream.max_head_bytes)
    _check_positive("upstream.max_headers", settings.upstream.max_headers)
    _check_positive("upstream.owner_cache_size", settings.upstream.owner_cache_size)
    _check_subset("keys.default_permissions", settings.keys.default_permissions, PERMISSIONS)
    _check_positive("keys.cache_size", settings.keys.cache_size)
    _check_positive("keys.invalidation_interval_s", settings.keys.invalidation_interval_s)
    _check_positive("keys.max_active_per_wallet", settings.keys.max_active_per_wallet)
    if settings.keys.unknown_key_cache_s < 0:
        raise ConfigError("keys.unknown_key_cache_s: must be 0 (off) or more")
    if settings.keys.prefix == settings.keys.evm_prefix or not settings.keys.prefix:
        raise ConfigError("keys.prefix: must be non-empty and differ from keys.evm_prefix")
    for name in (f.name for f in dataclasses.fields(RateLimitSettings)):
        _check_positive(f"rate_limits.{name}", getattr(settings.rate_limits, name))
    _check_positive("signatures.max_age_s", settings.signatures.max_age_s)
    _check_positive("signatures.replay_cache_size", settings.signatures.replay_cache_size)
    _check_subset("signatures.chains", settings.signatures.chains, CHAINS)
    if not settings.signatures.chains:
        raise ConfigError("signatures.chains: enable at least one chain")
    if settings.signatures.domain and not _DOMAIN.fullmatch(settings.signatures.domain):
        raise ConfigError(
            "signatures.domain: expected the host clients reach the gateway by, "
            'lower case, without scheme or path (e.g. "api.exchange.example" or "localhost:8080")'
        )
    _check_positive("limits.max_body_bytes", settings.limits.max_body_bytes)
    _check_positive("usage.flush_interval_s", settings.usage.flush_interval_s)
    _check_positive("usage.history_days", settings.usage.history_days)
    if settings.log.level not in LOG_LEVELS:
        raise ConfigError(f"log.level: expected one of {', '.join(LOG_LEVELS)}")
    if settings.log.format not in LOG_FORMATS:
        raise ConfigError(f"log.format: expected one of {', '.join(LOG_FORMATS)}")
    _check_positive("log.health_interval_s", settings.log.health_interval_s)
    try:
        check_brand(settings.portal.title, settings.portal.accent_color, settings.portal.logo)
    except BrandError as exc:
        raise ConfigError(str(exc)) from None
    for i, service_key in enumerate(settings.service_keys):
        digest = service_key.sha256.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError(f"service_keys[{i}].sha256: expected 64 hex digits")
    for i, route in enumerate(settings.routes):
        _check_route(f"routes[{i}]", route)


def unbound_warnings(settings: Settings) -> list[str]:
    """A gateway others can reach, with signed messages good on any walletgate."""
    if settings.signatures.domain or _is_loopback(settings.listen.host):
        return []
    return [
        f"signatures.domain is not set while listening on {settings.listen.host}: a wallet "
        "signature collected by another site (a cloned portal, another exchange) can be spent "
        "here; set it to the host clients reach this gateway by"
    ]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def worker_count(settings: Settings) -> int:
    """How many serving processes `listen.workers` asks for on this host."""
    return settings.listen.workers or os.cpu_count() or 1


def _check_workers(settings: Settings) -> None:
    if settings.listen.workers < 0:
        raise ConfigError("listen.workers: must be 0 (one per core) or a positive number")
    if worker_count(settings) > 1 and not settings.redis.url:
        # Each worker would keep its own limits and replay set: a client
        # would get N times its quota and could replay a message N times.
        raise ConfigError("redis.url: required when listen.workers is more than 1")


def _check_route(name: str, route: RouteSettings) -> None:
    if route.method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
        raise ConfigError(f"{name}.method: unknown HTTP method {route.method!r}")
    if not route.path.startswith("/"):
        raise ConfigError(f"{name}.path: must start with /")
    if route.permission and route.permission not in PERMISSIONS:
        raise ConfigError(f"{name}.permission: expected one of {', '.join(PERMISSIONS)}")
    try:
        owner = OwnerSource(route.owner)
    except ValueError:
        raise ConfigError(f"{name}.owner: expected {_choices(OwnerSource)}") from None
    if owner == OwnerSource.ORDER and "{uuid}" not in route.path:
        raise ConfigError(f'{name}.owner: "order" needs a {{uuid}} in the path')


def _check_url(key: str, url: str, schemes: tuple[str, ...], *, allow_empty: bool = False) -> None:
    if not url and allow_empty:
        return
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ConfigError(f"{key}: expected a {'/'.join(schemes)} URL")
    if parts.scheme in ("http", "https", *REDIS_SCHEMES) and not parts.hostname:
        raise ConfigError(f"{key}: the URL has no host")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise ConfigError(f"{key}: the URL has a bad port") from None


def _check_cidr(key: str, cidr: str) -> None:
    try:
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ConfigError(f"{key}: {cidr!r} is not an IP network") from None


def _check_positive(key: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{key}: must be greater than 0")


def _check_subset(key: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    for value in values:
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data with secrets hidden, for `config check`."""
    data = dataclasses.asdict(dataclasses.replace(settings, order_schemes=(), tiers=()))
    data["order_schemes"] = {spec.name: spec_table(spec) for spec in settings.order_schemes}
    data["tiers"] = tier_table(settings.tiers)
    for section, key in SECRET_KEYS:
        value = data[section][key]
        if value:
            data[section][key] = _mask_url(value) if "://" in value else "***"
    return data


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
