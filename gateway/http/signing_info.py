"""`GET /api/v1/signing`: what a signed message must say to be good here.

Clients (the portal, the TypeScript and Python clients, `walletgate sign`)
read it once: the deployment's `domain` to put in every signed message, the
chains that may sign, the Stacks network whose addresses are accepted, the
EVM chain that order schemes sign for, and how old a message may be.
A public route, charged to the client IP like every public request.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from aiohttp import web

from gateway.auth.policy import RouteMatch
from gateway.auth.routes import page_route
from gateway.http.admit import admit
from gateway.http.context import GATEWAY, Gateway
from gateway.http.middleware import framed
from gateway.order_spec import SchemeKind

SIGNING_PATH = "/api/v1/signing"


def signing_document(gw: Gateway) -> dict[str, Any]:
    signatures = gw.settings.signatures
    return {
        "domain": signatures.domain or None,
        "chains": list(signatures.chains),
        "stacksNetwork": signatures.stacks_network,
        "evmChainId": evm_chain_id(gw),
        # A whole number of seconds is written as one (300, not 300.0).
        "maxAgeS": int(age) if float(age := signatures.max_age_s).is_integer() else age,
    }


def evm_chain_id(gw: Gateway) -> int | None:
    """The chain EIP-712 order schemes sign for; None when no scheme names one."""
    chain_ids = sorted(
        chain_id
        for spec in gw.settings.order_schemes
        if spec.kind == SchemeKind.EIP712
        and isinstance(chain_id := spec.domain.get("chainId"), int)
    )
    return chain_ids[0] if chain_ids else None


_SIGNING = RouteMatch(page_route(SIGNING_PATH), MappingProxyType({}))


async def get_signing(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    await admit(gw, request, _SIGNING, with_body=False)
    return web.json_response(signing_document(gw))


def add_signing_routes(app: web.Application) -> None:
    app.router.add_get(SIGNING_PATH, framed(get_signing), allow_head=False)
