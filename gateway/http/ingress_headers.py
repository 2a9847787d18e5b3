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

from aiohttp import web

from gateway.errors import bad_request
from gateway.upstream.header_policy import unnamed_stripped


class RemovableNames:
    """Whether each header name is one an ingress can remove, remembered per name.

    Every decision asks it of every header name, and an ingress sends the same
    dozen names again and again: one dict lookup per name instead of lowering
    and prefix-matching it each time. The table is bounded and emptied when
    full, so client-chosen names cost at worst what no table would.
    """

    __slots__ = ("_unremovable",)
    MAX_NAMES = 1024

    def __init__(self) -> None:
        self._unremovable: dict[str, bool] = {}

    def refuse_unremovable(self, names: Iterable[str]) -> None:
        """400 when a header the ingress would pass on is one the upstream must never see."""
        known = self._unremovable
        for name in names:
            unremovable = known.get(name)
            if unremovable is None:
                if len(known) >= self.MAX_NAMES:
                    known.clear()
                unremovable = known[name] = unnamed_stripped((name,)) is not None
            if unremovable:
                raise bad_request(
                    "Header not accepted",
                    header=name,
                    reason="X-Gateway-* and X-Forwarded-* headers are set by the gateway only",
                )


REMOVABLE_NAMES = web.AppKey("removable_names", RemovableNames)
