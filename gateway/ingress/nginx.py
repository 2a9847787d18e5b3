"""nginx: `auth_request` asks walletgate; denials are handed back in full.

`auth_request` passes only 2xx, 401 and 403 and never the body, so every
denial (401, 403 and the 500 nginx makes of any other status) goes through
`error_page` to a named location that hands the denial walletgate made back
to `/_walletgate/denial`: the decision's answer carries it whole in
`X-Walletgate-Denial` (captured with `auth_request_set`), so any worker of any
walletgate replica serves it and nothing is kept between the two requests.
The client gets walletgate's real status, JSON body and headers (429 with
`Retry-After`, 404, 400...) and nothing is decided or counted twice.
"""

from __future__ import annotations

from gateway.ingress.plan import (
    CREDENTIAL_HEADERS,
    DECISION_HEADERS,
    GATEWAY_RESPONSE_HEADERS,
    IDENTITY_HEADERS,
    WALLETGATE_EXACT,
    WALLETGATE_PREFIXES,
    IngressPlan,
    Origin,
)
from gateway.upstream.header_policy import NAMED, SET_HEADERS

DENIAL_HEADER = "X-Walletgate-Denial"
# What proxy mode sets, nginx sets too (the identity and X-Request-ID from the decision).
_SET = frozenset(name.lower() for name in SET_HEADERS)
# Every other name the header policy strips, removed by name: nginx cannot
# remove by pattern, so walletgate refuses a request carrying any other
# X-Gateway-* or X-Forwarded-* name (gateway/http/ingress_headers.py).
UPSTREAM_REMOVED = tuple(name for name in NAMED if name.lower() not in _SET)


def variable(header: str) -> str:
    """`X-RateLimit-Limit` -> `$wg_x_ratelimit_limit`."""
    return "$wg_" + header.lower().replace("-", "_")


def upstream_variable(header: str) -> str:
    return "$upstream_http_" + header.lower().replace("-", "_")


def _upstream_block(name: str, origin: Origin, *, resolve: bool = False) -> list[str]:
    lines = [f"    upstream {name} {{"]
    if resolve:
        # Shared memory for servers that change while nginx runs (nginx 1.27.3+).
        lines.append(f"        zone {name} 64k;")
    server = f"server {origin.authority} resolve;" if resolve else f"server {origin.authority};"
    lines += [f"        {server}", "        keepalive 32;", "    }"]
    return lines


def _resolver(plan: IngressPlan) -> list[str]:
    if not plan.resolver:
        return []
    # Every replica behind one name, followed as they come and go (scale,
    # restart with a new address); without it nginx keeps the start-up answer.
    return [f"    resolver {plan.resolver} valid=5s ipv6=off;"]


def _to_walletgate(plan: IngressPlan) -> list[str]:
    """Directives of a location proxied to walletgate as a whole."""
    lines = [
        f"proxy_pass {plan.walletgate.scheme}://walletgate;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
    ]
    # Only nginx itself names an original request to walletgate.
    lines += [f'proxy_set_header {name} "";' for name in DECISION_HEADERS]
    return lines


def _guarded(plan: IngressPlan) -> list[str]:
    lines = [
        "auth_request /_walletgate_decision;",
        "error_page 401 403 500 = @walletgate_denial;",
    ]
    for header in (*IDENTITY_HEADERS, *GATEWAY_RESPONSE_HEADERS, DENIAL_HEADER):
        lines.append(f"auth_request_set {variable(header)} {upstream_variable(header)};")
    lines += [
        f"proxy_pass {plan.upstream.scheme}://exchange;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        f"proxy_set_header Host {plan.upstream.authority};",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
    ]
    # Identity from walletgate's decision (an empty value drops the header);
    # whatever else the header policy strips never reaches the upstream.
    lines += [f"proxy_set_header {h} {variable(h)};" for h in IDENTITY_HEADERS]
    lines.append(f"proxy_set_header X-Request-ID {variable('X-Request-ID')};")
    lines += [f'proxy_set_header {h} "";' for h in UPSTREAM_REMOVED]
    for header in GATEWAY_RESPONSE_HEADERS:
        lines.append(f"proxy_hide_header {header};")
        lines.append(f"add_header {header} {variable(header)} always;")
    return lines


def _decision(plan: IngressPlan) -> list[str]:
    return [
        "internal;",
        f"proxy_pass {plan.walletgate.scheme}://walletgate/_walletgate/auth;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_pass_request_body off;",
        # The decision's head carries a denial whole (X-Walletgate-Denial).
        "proxy_buffer_size 16k;",
        "proxy_buffers 4 16k;",
        "proxy_busy_buffers_size 32k;",
        'proxy_set_header Content-Length "";',
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Original-Method $request_method;",
        "proxy_set_header X-Original-URI $request_uri;",
        'proxy_set_header X-Forwarded-Method "";',
        'proxy_set_header X-Forwarded-Uri "";',
        "proxy_set_header X-Walletgate-Decision-Id $request_id;",
        f'proxy_set_header {DENIAL_HEADER} "";',
    ]


def _denial(plan: IngressPlan) -> list[str]:
    return [
        "rewrite ^ /_walletgate/denial break;",
        f"proxy_pass {plan.walletgate.scheme}://walletgate;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_method GET;",
        "proxy_pass_request_body off;",
        'proxy_set_header Content-Length "";',
        "proxy_set_header Host $host;",
        "proxy_set_header X-Walletgate-Decision-Id $request_id;",
        # The denial itself, as the decision made it: no state is kept anywhere.
        f"proxy_set_header {DENIAL_HEADER} {variable(DENIAL_HEADER)};",
        *(f'proxy_set_header {h} "";' for h in CREDENTIAL_HEADERS),
    ]


def _location(match: str, body: list[str]) -> list[str]:
    return [f"        location {match} {{", *(f"            {line}" for line in body), "        }"]


def render(plan: IngressPlan) -> str:
    locations: list[str] = []
    for path in WALLETGATE_EXACT:
        locations += _location(f"= {path}", _to_walletgate(plan))
    for prefix in WALLETGATE_PREFIXES:
        locations += _location(f"^~ {prefix}", _to_walletgate(plan))
    for route in plan.body_routes:
        match = f"= {route.template}" if route.is_static else f'~ "{route.regex}"'
        locations += _location(match, _to_walletgate(plan))
    locations += _location("/", _guarded(plan))
    locations += _location("= /_walletgate_decision", _decision(plan))
    locations += _location("@walletgate_denial", _denial(plan))
    lines = [
        "# nginx in front of an exchange API, walletgate deciding (auth mode).",
        "# Generated by `walletgate ingress nginx`; see docs/ingress.md.",
        '# walletgate runs with listen.mode = "auth" and this nginx\'s address',
        "# in listen.trusted_proxies.",
        "worker_processes auto;",
        "error_log stderr warn;",
        "",
        "events {",
        "    worker_connections 4096;",
        "}",
        "",
        "http {",
        "    access_log off;",
        "    server_tokens off;",
        "    client_max_body_size 1m;",
        # A name with `_` is dropped (nginx's defaults, spelled out): CGI-style
        # upstreams read X-Gateway_Wallet as X-Gateway-Wallet.
        "    ignore_invalid_headers on;",
        "    underscores_in_headers off;",
        *_resolver(plan),
        *_upstream_block("walletgate", plan.walletgate, resolve=bool(plan.resolver)),
        *_upstream_block("exchange", plan.upstream, resolve=bool(plan.resolver)),
        "",
        "    server {",
        f"        listen {plan.listen.authority};",
        *locations,
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"
