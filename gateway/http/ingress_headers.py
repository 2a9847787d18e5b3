"""Decisions for ingresses that remove headers by name only (nginx, Envoy).

The header policy (gateway/upstream/header_policy.py) strips every
`X-Gateway-*` and `X-Forwarded-*` a client sends. nginx and Envoy cannot
remove a header by pattern: their printed configurations remove every name
the policy lists, and walletgate refuses a decision whose request carries any
other name under those prefixes, which they would pass on to the upstream.
Their decisions are nginx's (`X-Original-Method` / `X-Original-URI`) and
Envoy's (`/_walletgate/ext_authz/...`); Caddy and Traefik remove by pattern.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.errors import bad_request
from gateway.upstream.header_policy import unnamed_stripped


def refuse_unremovable(names: Iterable[str]) -> None:
    """400 when a header the ingress would pass on is one the upstream must never see."""
    name = unnamed_stripped(names)
    if name is not None:
        raise bad_request(
            "Header not accepted",
            header=name,
            reason="X-Gateway-* and X-Forwarded-* headers are set by the gateway only",
        )
