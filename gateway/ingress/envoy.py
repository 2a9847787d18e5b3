"""Envoy: the HTTP `ext_authz` filter asks `/_walletgate/ext_authz/<path>`.

Envoy hands a denial's status, body and headers to the client; on allow it
adds the identity headers to the upstream request and the rate-limit headers
to the client's response. Routes walletgate serves itself switch the filter
off. What the header policy strips is removed before the filter runs
(underscore names dropped by the connection manager), the credentials when
the request is forwarded.
"""

from __future__ import annotations

from typing import Any

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
from gateway.ingress.yaml_text import dump
from gateway.upstream.header_policy import NAMED, STRIPPED_PREFIXES

API = "type.googleapis.com/envoy.extensions"
EXT_AUTHZ = "envoy.filters.http.ext_authz"
FORWARDED_TO_DECISION = (*CREDENTIAL_HEADERS, "X-Request-ID", "X-Forwarded-For")
# Removed before anything else reads the request (before X-Forwarded-For is
# appended to): every name the header policy strips, but the credentials the
# decision reads (removed on the way upstream) and X-Request-ID, which Envoy
# keeps as walletgate does. Envoy removes by name only, so walletgate refuses
# an ext_authz request carrying any other X-Gateway-* or X-Forwarded-* name.
_KEPT_EARLY = {h.lower() for h in (*CREDENTIAL_HEADERS, "X-Request-ID")}
EARLY_REMOVED = tuple(h.lower() for h in NAMED if h.lower() not in _KEPT_EARLY)


def _patterns(names: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    patterns = [{"exact": name.lower(), "ignore_case": True} for name in names]
    patterns += [{"prefix": prefix.lower(), "ignore_case": True} for prefix in prefixes]
    return {"patterns": patterns}


def _cluster(name: str, origin: Origin) -> dict[str, Any]:
    address = {"socket_address": {"address": origin.host, "port_value": origin.port}}
    return {
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }


def _to_walletgate(match: dict[str, Any]) -> dict[str, Any]:
    return {
        "match": match,
        "route": {"cluster": "walletgate"},
        "request_headers_to_remove": [h.lower() for h in DECISION_HEADERS],
        "typed_per_filter_config": {
            EXT_AUTHZ: {
                "@type": f"{API}.filters.http.ext_authz.v3.ExtAuthzPerRoute",
                "disabled": True,
            }
        },
    }


def routes(plan: IngressPlan) -> list[dict[str, Any]]:
    out = [_to_walletgate({"path": path}) for path in WALLETGATE_EXACT]
    out += [_to_walletgate({"prefix": prefix}) for prefix in WALLETGATE_PREFIXES]
    for route in plan.body_routes:
        method = [{"name": ":method", "string_match": {"exact": route.method}}]
        if route.is_static:
            out.append(_to_walletgate({"path": route.template, "headers": method}))
        else:
            regex = {"safe_regex": {"regex": route.regex.strip("^$")}, "headers": method}
            out.append(_to_walletgate(regex))
    out.append(
        {
            "match": {"prefix": "/"},
            "route": {"cluster": "exchange", "host_rewrite_literal": plan.upstream.authority},
            "request_headers_to_remove": [h.lower() for h in CREDENTIAL_HEADERS],
            "response_headers_to_remove": [h.lower() for h in GATEWAY_RESPONSE_HEADERS],
        }
    )
    return out


def early_header_mutation() -> dict[str, Any]:
    return {
        "name": "envoy.http.early_header_mutation.header_mutation",
        "typed_config": {
            "@type": f"{API}.http.early_header_mutation.header_mutation.v3.HeaderMutation",
            "mutations": [{"remove": name} for name in EARLY_REMOVED],
        },
    }


def http_filters() -> list[dict[str, Any]]:
    # Unnamed X-Gateway-* / X-Forwarded-* reach the decision, which refuses them.
    asked = _patterns(FORWARDED_TO_DECISION, STRIPPED_PREFIXES)
    return [
        {
            "name": EXT_AUTHZ,
            "typed_config": {
                "@type": f"{API}.filters.http.ext_authz.v3.ExtAuthz",
                "transport_api_version": "V3",
                "failure_mode_allow": False,
                "http_service": {
                    "server_uri": {
                        "uri": "http://walletgate",
                        "cluster": "walletgate",
                        "timeout": "5s",
                    },
                    "path_prefix": "/_walletgate/ext_authz",
                    "authorization_request": {"allowed_headers": asked},
                    "authorization_response": {
                        "allowed_upstream_headers": _patterns((*IDENTITY_HEADERS, "X-Request-ID")),
                        "allowed_client_headers_on_success": _patterns(GATEWAY_RESPONSE_HEADERS),
                    },
                },
            },
        },
        {
            "name": "envoy.filters.http.router",
            # No x-envoy-* headers to the upstream: proxy mode sends none.
            "typed_config": {
                "@type": f"{API}.filters.http.router.v3.Router",
                "suppress_envoy_headers": True,
            },
        },
    ]


def bootstrap(plan: IngressPlan) -> dict[str, Any]:
    manager = {
        "@type": f"{API}.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "walletgate_ingress",
        # The client's address is the socket peer, appended to X-Forwarded-For.
        "use_remote_address": True,
        # A well-formed client X-Request-ID is kept, as walletgate keeps it.
        "preserve_external_request_id": True,
        # A name with `_` is dropped: CGI-style upstreams read it as one with `-`.
        "common_http_protocol_options": {"headers_with_underscores_action": "DROP_HEADER"},
        "early_header_mutation_extensions": [early_header_mutation()],
        "route_config": {
            "name": "walletgate",
            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes(plan)}],
        },
        "http_filters": http_filters(),
    }
    listen = {"socket_address": {"address": plan.listen.host, "port_value": plan.listen.port}}
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "ingress",
                    "address": listen,
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                _cluster("walletgate", plan.walletgate),
                _cluster("exchange", plan.upstream),
            ],
        }
    }


def render(plan: IngressPlan) -> str:
    return (
        "# Envoy in front of an exchange API, walletgate deciding (auth mode).\n"
        "# Generated by `walletgate ingress envoy`; see docs/ingress.md.\n"
        "# Run: envoy -c FILE\n" + dump(bootstrap(plan))
    )
