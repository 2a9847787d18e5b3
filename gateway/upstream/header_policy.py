"""The one request-header policy between a client and the upstream.

Whatever carries admitted traffic to the upstream (walletgate in proxy mode,
or an ingress running a configuration `walletgate ingress` printed), the
upstream receives the same header set: the client's headers minus the ones
named here, plus the ones walletgate sets. The forwarder applies it with
`is_stripped`; every ingress generator spells the same lists in its own
configuration language (docs/security.md, "Ingress header policy").

Underscores: CGI, WSGI and Rack servers read `X-Gateway_Wallet` as
`X-Gateway-Wallet`, so a name with `_` could smuggle any stripped header past
an exact-name check. A client header whose name holds `_` is never passed on,
in any mode: nginx (`ignore_invalid_headers`) and Envoy
(`headers_with_underscores_action`) drop them natively, Caddy and Traefik by
a wildcard rule, walletgate itself here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

# Credentials: walletgate (or its decision) reads them; the upstream never sees them.
CREDENTIALS: Final = ("X-API-Key", "X-Message", "X-Signature", "X-Wallet-Address", "X-Public-Key")
# Claims a client could make to steer the upstream past what was checked:
# who the client is (walletgate sends its own X-Forwarded-For) and which
# method or path the request "really" has (frameworks honour these overrides).
CLAIMS: Final = (
    "Forwarded",
    "X-Real-IP",
    "True-Client-IP",
    "Client-IP",
    "X-Client-IP",
    "X-Cluster-Client-IP",
    "CF-Connecting-IP",
    "Fastly-Client-IP",
    "X-Originating-IP",
    "X-HTTP-Method-Override",
    "X-HTTP-Method",
    "X-Method-Override",
    "X-Original-URL",
    "X-Original-URI",
    "X-Original-Method",
    "X-Rewrite-URL",
)
# Headers only an ingress sends to walletgate's decision endpoints.
DECISION_HEADERS: Final = (
    "X-Original-Method",
    "X-Original-URI",
    "X-Forwarded-Method",
    "X-Forwarded-Uri",
    "X-Walletgate-Decision-Id",
    "X-Walletgate-Denial",
)
# Identity walletgate decided; any client-sent X-Gateway-* goes first.
IDENTITY_HEADERS: Final = ("X-Gateway-Wallet", "X-Gateway-Key-Id", "X-Gateway-Auth")
# Set by walletgate (or copied from its decision) on every forwarded request.
SET_HEADERS: Final = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID", *IDENTITY_HEADERS)
# Stripped by prefix: walletgate sets its own of both families.
STRIPPED_PREFIXES: Final = ("X-Gateway-", "X-Forwarded-")
# Stripped by exact name (X-Request-ID is replaced by walletgate's, which
# keeps a well-formed client value); decision headers under a stripped prefix
# are covered by it already.
STRIPPED_NAMES: Final = tuple(
    dict.fromkeys(
        (
            *CREDENTIALS,
            *CLAIMS,
            *(h for h in DECISION_HEADERS if not h.startswith(STRIPPED_PREFIXES)),
            "X-Request-ID",
        )
    )
)

_NAMES: Final = frozenset(name.lower() for name in STRIPPED_NAMES)
_PREFIXES: Final = tuple(prefix.lower() for prefix in STRIPPED_PREFIXES)


def is_stripped(name: str) -> bool:
    """Whether a client header of this name is kept from the upstream (any case)."""
    lowered = name.lower()
    return "_" in lowered or lowered in _NAMES or lowered.startswith(_PREFIXES)


# X-Forwarded-* names proxies set or honour. An ingress that cannot remove
# headers by pattern (nginx) removes these by name, and its decisions refuse a
# request carrying any other name under a stripped prefix (docs/ingress.md).
KNOWN_FORWARDED: Final = (
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Server",
    "X-Forwarded-Prefix",
    "X-Forwarded-Path",
    "X-Forwarded-Method",
    "X-Forwarded-Uri",
    "X-Forwarded-Ssl",
    "X-Forwarded-Scheme",
    "X-Forwarded-Protocol",
    "X-Forwarded-Client-Cert",
    "X-Forwarded-Tls-Client-Cert",
    "X-Forwarded-Tls-Client-Cert-Info",
)
# Every stripped name an ingress can remove one by one.
NAMED: Final = tuple(dict.fromkeys((*STRIPPED_NAMES, *IDENTITY_HEADERS, *KNOWN_FORWARDED)))
_NAMED: Final = frozenset(name.lower() for name in NAMED)


def unnamed_stripped(names: Iterable[str]) -> str | None:
    """The first name the policy strips by prefix only (no ingress can remove it by name)."""
    for name in names:
        lowered = name.lower()
        if lowered.startswith(_PREFIXES) and lowered not in _NAMED:
            return name
    return None


def stripped_regex(*, kept: Iterable[str] = ()) -> str:
    """An RE2 regular expression matching every header name `is_stripped` matches,
    except the names in `kept` (the ingress sets those itself). For ingresses
    that remove headers by pattern (Traefik's forwardAuth)."""
    keep = {name.lower() for name in kept}
    names = [_literal(n.lower()) for n in STRIPPED_NAMES if n.lower() not in keep]
    prefixes = []
    for prefix in _PREFIXES:
        exceptions = [k.removeprefix(prefix) for k in keep if k.startswith(prefix)]
        prefixes.append(_literal(prefix) + (_anything_but(exceptions) if exceptions else ".*"))
    return "(?i)^(?:.*_.*|" + "|".join(names + prefixes) + ")$"


def _literal(text: str) -> str:
    # `-` needs no escape outside a class; the configuration stays readable.
    return re.escape(text).replace("\\-", "-")


def _anything_but(words: Iterable[str]) -> str:
    """A pattern matching any string except exactly one of `words` (RE2 has no lookahead)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _complement(trie)


def _complement(node: dict[str, Any]) -> str:
    children = sorted(char for char in node if char)
    parts = [] if "" in node else [""]
    if children:
        parts.append("[^" + "".join(re.escape(c) for c in children) + "].*")
        parts += [_literal(c) + _complement(node[c]) for c in children]
    else:
        parts.append(".+")
    return "(?:" + "|".join(parts) + ")"
