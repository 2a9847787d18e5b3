"""Decisions for an ingress that removes headers by name only (nginx).

The header policy (gateway/upstream/header_policy.py) strips every
`X-Gateway-*` and `X-Forwarded-*` a client sends. nginx cannot remove a
header by pattern: its printed configuration removes every name the policy
lists, and walletgate refuses a decision whose request carries any other name
under those prefixes, which nginx would pass on to the upstream. nginx's
decisions are the ones asked with an `X-Walletgate-Decision-Id`.
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
