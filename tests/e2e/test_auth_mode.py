"""Auth mode: the decision is proxy mode's pipeline with another ending.

One request matrix (permissions, IP allowlist, ownership, unknown orders,
bad and missing keys, rate limits, signed headers, upstream refusals) runs
through a gateway in proxy mode and through a gateway in auth mode behind a
minimal ingress written here (ask `/_walletgate/auth`, forward on 200, else
hand the denial over). Statuses, codes, details and rate-limit headers must
match step by step. Then the decision endpoints' own rules.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from gateway.wallets.signing import signed_headers
from tests.conftest import RunningGateway, create_api_key, create_order, now_ms
from tests.support.key_api import Reply, assert_error, call, mid_minute_clock

TRUSTED = {"mode": "auth", "trusted_proxies": ("127.0.0.1/32",)}
COMPARED_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Window",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
)
IDENTITY = ("X-Gateway-Wallet", "X-Gateway-Key-Id", "X-Gateway-Auth")


async def through_ingress(
    gw: RunningGateway, method: str, path: str, headers: dict[str, str]
) -> Reply:
    """What nginx/Caddy/Traefik do: ask, then forward with the identity, or deny."""
    asked = {"X-Original-Method": method, "X-Original-URI": path, **headers}
    decision = await call(gw, "GET", "/_walletgate/auth", headers=asked)
    if decision.status != 200:
        return decision
    assert decision.text == ""
    identity = {h: decision.headers[h] for h in IDENTITY if h in decision.headers}
    url = gw.backend_url + path
    async with gw.client.request(method, url, headers=identity) as response:
        text = await response.text()
        body = await response.json(content_type=None) if text else None
    return Reply(response.status, body, decision.headers, text)


def outcome(reply: Reply) -> tuple[Any, ...]:
    body = reply.body if isinstance(reply.body, dict) else {}
    headers = tuple(reply.headers.get(name) for name in COMPARED_HEADERS)
    return reply.status, body.get("code"), body.get("details"), headers


async def run_matrix(gw: RunningGateway, signers: dict[str, Any], send) -> list[tuple[Any, ...]]:
    stacks, evm = signers["stacks"], signers["evm"]
    full = (await create_api_key(gw, stacks))["apiKey"]
    create_only = (await create_api_key(gw, stacks, permissions=("create",)))["apiKey"]
    foreign = (await create_api_key(gw, evm))["apiKey"]
    single = (await create_api_key(gw, stacks, rateLimit=1))["apiKey"]
    fenced = (await create_api_key(gw, stacks, ipAllowlist=["10.0.0.0/8"]))["apiKey"]
    await create_order(gw, stacks, api_key=full, uuid="matrix-1")
    await create_order(gw, stacks, uuid="matrix-2")
    execute_1, execute_2 = "/api/v1/orders/matrix-1/execute", "/api/v1/orders/matrix-2/execute"
    signed = signed_headers(stacks, "execute_order", {"uuid": "matrix-2"}, now_ms=now_ms(gw))
    foreign_cancel = signed_headers(evm, "cancel_order", {"uuid": "matrix-1"}, now_ms=now_ms(gw))
    steps = [
        ("POST", execute_1, {"X-API-Key": create_only}),
        ("POST", execute_1, {"X-API-Key": fenced}),
        ("POST", execute_1, {"X-API-Key": foreign}),
        ("POST", "/api/v1/orders/matrix-missing/execute", {"X-API-Key": full}),
        ("POST", execute_1, {"X-API-Key": full[:-2] + "zz"}),
        ("POST", execute_1, {}),
        ("PATCH", "/api/v1/orders/matrix-1/cancel", foreign_cancel),
        ("POST", execute_1, {"X-API-Key": full}),
        ("POST", execute_1, {"X-API-Key": full}),  # filled: the upstream's 400
        ("POST", execute_2, signed),
        ("POST", execute_2, signed),  # the same signature again: replayed
        ("GET", "/api/v1/orders?owner=" + stacks.address, {}),
        ("GET", "/api/v1/orders/matrix-1", {"X-API-Key": single}),
        ("GET", "/api/v1/orders/matrix-1", {"X-API-Key": single}),
        ("GET", "/not/a/route", {}),
    ]
    return [outcome(await send(gw, method, path, headers)) for method, path, headers in steps]


async def direct(gw: RunningGateway, method: str, path: str, headers: dict[str, str]) -> Reply:
    return await call(gw, method, path, headers=headers)


async def test_proxy_and_auth_modes_decide_the_same(start_gateway, stacks_signer, evm_signer):
    signers = {"stacks": stacks_signer, "evm": evm_signer}
    clock = mid_minute_clock()
    proxy = await start_gateway(clock=clock)
    auth = await start_gateway(clock=clock, listen=TRUSTED)
    proxied = await run_matrix(proxy, signers, direct)
    decided = await run_matrix(auth, signers, through_ingress)
    statuses = [step[0] for step in proxied]
    assert statuses == [403, 403, 403, 404, 401, 401, 403, 200, 400, 200, 401, 200, 200, 429, 404]
    for number, (by_proxy, by_decision) in enumerate(zip(proxied, decided, strict=True)):
        assert by_proxy == by_decision, number
    assert proxied[13][3][-1] is not None  # the 429 carries Retry-After


async def decide(gw: RunningGateway, headers: dict[str, str], method: str = "GET") -> Reply:
    return await call(gw, method, "/_walletgate/auth", headers=headers)


async def test_allow_carries_identity_and_rate_limit_headers(start_gateway, stacks_signer):
    gw = await start_gateway(listen=TRUSTED)
    key = await create_api_key(gw, stacks_signer)
    await create_order(gw, stacks_signer, api_key=key["apiKey"], uuid="allow-1")
    headers = {
        "X-Forwarded-Method": "POST",  # Traefik / Caddy spelling
        "X-Forwarded-Uri": "/api/v1/orders/allow-1/execute",
        "X-API-Key": key["apiKey"],
        "X-Request-ID": "ingress-chosen-id",
    }
    reply = await decide(gw, headers)
    assert reply.status == 200, reply.text
    assert reply.headers["X-Gateway-Wallet"] == stacks_signer.address
    assert reply.headers["X-Gateway-Key-Id"] == key["keyId"]
    assert reply.headers["X-Gateway-Auth"] == "api_key"
    assert reply.headers["X-Request-ID"] == "ingress-chosen-id"
    assert reply.headers["X-RateLimit-Remaining"] == "98"  # the order creation, this
    # An empty answer on a kept-alive connection: a length, never chunked.
    assert reply.text == "" and reply.headers["Content-Length"] == "0"
    assert "Transfer-Encoding" not in reply.headers
    # Nothing was forwarded: the ingress does that.
    assert not [r for r in gw.backend_requests if r["path"].endswith("/execute")]
    public = await decide(gw, {"X-Original-Method": "GET", "X-Original-URI": "/api/v1/orders"})
    assert public.status == 200 and public.headers["X-Gateway-Auth"] == "public"
    assert "X-Gateway-Wallet" not in public.headers


async def test_envoy_ext_authz_reads_the_path_after_the_prefix(start_gateway, stacks_signer):
    gw = await start_gateway(listen=TRUSTED)
    key = await create_api_key(gw, stacks_signer)
    await create_order(gw, stacks_signer, api_key=key["apiKey"], uuid="envoy-1")
    path = "/_walletgate/ext_authz/api/v1/orders/envoy-1/execute"
    allowed = await call(gw, "POST", path, headers={"X-API-Key": key["apiKey"]})
    assert allowed.status == 200 and allowed.headers["X-Gateway-Key-Id"] == key["keyId"]
    wrong_method = await call(gw, "GET", path, headers={"X-API-Key": key["apiKey"]})
    assert_error(wrong_method, 405, "METHOD_NOT_ALLOWED")  # a route's path: Allow names it
    assert wrong_method.headers["Allow"] == "POST"
    listing = await call(gw, "GET", "/_walletgate/ext_authz/api/v1/orders?limit=2")
    assert listing.status == 200 and listing.headers["X-Gateway-Auth"] == "public"


async def test_untrusted_peers_get_no_decision(start_gateway, stacks_signer):
    gw = await start_gateway()  # proxy mode: the endpoint exists, nobody is trusted
    key = await create_api_key(gw, stacks_signer)
    headers = {"X-Original-Method": "GET", "X-Original-URI": "/api/v1/orders"}
    refused = await decide(gw, headers | {"X-API-Key": key["apiKey"]})
    assert_error(refused, 403, "UNTRUSTED_PROXY")
    assert "X-Gateway-Wallet" not in refused.headers
    ext = await call(gw, "GET", "/_walletgate/ext_authz/api/v1/orders")
    assert_error(ext, 403, "UNTRUSTED_PROXY")
    denial = await call(gw, "GET", "/_walletgate/denial")
    assert_error(denial, 403, "UNTRUSTED_PROXY")
    await gw.gw.keys.flush_usage()
    stored = await gw.gw.store.get(key["keyId"])
    assert stored is not None and stored.usage.total_requests == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Original-Method": "GET"},
        {"X-Original-Method": "GET", "X-Original-URI": "api/v1/orders"},
        {"X-Original-Method": "G E T", "X-Original-URI": "/api/v1/orders"},
        {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "http://evil/api/v1/orders"},
        # A client's forged X-Original-* beside the ingress's X-Forwarded-*.
        {
            "X-Original-Method": "GET",
            "X-Original-URI": "/api/v1/orders",
            "X-Forwarded-Method": "POST",
            "X-Forwarded-Uri": "/api/v1/orders/x/execute",
        },
    ],
)
async def test_malformed_decision_requests_are_400(start_gateway, headers):
    gw = await start_gateway(listen=TRUSTED)
    assert_error(await decide(gw, headers), 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    "uri",
    [
        "/api/v1/orders/%2e%2e",
        "/api/v1/orders/x/../y/execute",
        "/api/v1/orders/a%2fb/execute",
        "/api/v1/orders/a%5cb/execute",
        "/api/v1/orders#x",
    ],
)
async def test_ambiguous_original_targets_are_never_decided(start_gateway, uri):
    """A decision holds the original target to the rules of a forwarded one: the
    upstream behind the ingress could read it as a path no route allows."""
    gw = await start_gateway(listen=TRUSTED)
    reply = await decide(gw, {"X-Original-Method": "GET", "X-Original-URI": uri})
    assert_error(reply, 400, "BAD_REQUEST")
    assert reply.body["error"] == "Invalid request target"


async def test_body_authenticated_routes_are_not_decided(start_gateway):
    gw = await start_gateway(listen=TRUSTED)
    headers = {"X-Original-Method": "POST", "X-Original-URI": "/api/v1/orders/new"}
    reply = await decide(gw, headers)
    assert_error(reply, 400, "BAD_REQUEST")
    assert "body" in reply.body["details"]["reason"]


NGINX_DECISION = {
    "X-Original-Method": "POST",
    "X-Original-URI": "/api/v1/orders/x/execute",
    "X-Walletgate-Decision-Id": "0123456789abcdef0123456789abcdef",
}


async def test_a_denial_travels_with_its_decision(start_gateway):
    """nginx hands the decision's own X-Walletgate-Denial back: any worker of any
    replica answers it exactly as decided, and nothing is kept in between."""
    gw = await start_gateway(listen=TRUSTED)
    denied = await decide(gw, NGINX_DECISION)
    assert_error(denied, 401, "UNAUTHORIZED")
    token = denied.headers["X-Walletgate-Denial"]
    fetch = {"X-Walletgate-Decision-Id": NGINX_DECISION["X-Walletgate-Decision-Id"]}
    fetch["X-Walletgate-Denial"] = token
    again = await call(gw, "GET", "/_walletgate/denial", headers=fetch)
    assert again.status == 401 and again.body == denied.body
    assert again.headers["Content-Type"] == "application/json"
    assert "X-Walletgate-Denial" not in again.headers
    for name in ("X-Request-ID", "X-RateLimit-Remaining", "RateLimit"):
        assert again.headers[name] == denied.headers[name], name
    other = fetch | {"X-Walletgate-Decision-Id": "another-decision-0001"}
    assert_error(await call(gw, "GET", "/_walletgate/denial", headers=other), 400, "BAD_REQUEST")
    missing = {"X-Walletgate-Decision-Id": fetch["X-Walletgate-Decision-Id"]}
    assert_error(await call(gw, "GET", "/_walletgate/denial", headers=missing), 400, "BAD_REQUEST")
    # Caddy, Traefik and Envoy pass a denial on themselves: no copy rides along.
    plain = {"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/api/v1/orders/x/execute"}
    assert "X-Walletgate-Denial" not in (await decide(gw, plain)).headers


async def test_a_real_denial_from_a_peer_that_is_not_a_trusted_proxy_is_refused(start_gateway):
    """Only 127.0.0.1 is trusted; 127.0.0.2 (same host, another address) presents a
    genuine denial and decision id and still gets nothing but 403."""
    gw = await start_gateway(listen=TRUSTED)
    denied = await decide(gw, NGINX_DECISION)
    fetch = {
        "X-Walletgate-Decision-Id": NGINX_DECISION["X-Walletgate-Decision-Id"],
        "X-Walletgate-Denial": denied.headers["X-Walletgate-Denial"],
    }
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with (
        aiohttp.ClientSession(connector=connector) as outsider,
        outsider.get(gw.at("/_walletgate/denial"), headers=fetch) as response,
    ):
        body = await response.json()
    assert response.status == 403 and body["code"] == "UNTRUSTED_PROXY"
    assert (await call(gw, "GET", "/_walletgate/denial", headers=fetch)).status == 401


def _token(record: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(record).encode()).decode()


DECISION_ID = NGINX_DECISION["X-Walletgate-Decision-Id"]
ERROR_BODY = json.dumps({"error": "x", "code": "NOT_FOUND", "details": {}, "timestamp": "t"})


@pytest.mark.parametrize(
    "token",
    [
        "not base64 !",
        _token({"id": DECISION_ID, "status": 200, "headers": [], "body": ERROR_BODY}),
        _token({"id": DECISION_ID, "status": 302, "headers": [], "body": ERROR_BODY}),
        _token({"id": DECISION_ID, "status": 404, "headers": [], "body": "<script>x</script>"}),
        _token(
            {
                "id": DECISION_ID,
                "status": 404,
                "headers": [["Set-Cookie", "session=stolen"]],
                "body": ERROR_BODY,
            }
        ),
        _token({"id": DECISION_ID, "status": 404, "headers": [["Location", "/x"]], "body": ""}),
        _token({"id": "another-decision-0001", "status": 404, "headers": [], "body": ERROR_BODY}),
    ],
)
async def test_a_denial_walletgate_did_not_make_is_never_answered(start_gateway, token):
    """Even from a trusted peer, only a 4xx/5xx JSON error with a refusal's headers."""
    gw = await start_gateway(listen=TRUSTED)
    fetch = {"X-Walletgate-Decision-Id": DECISION_ID, "X-Walletgate-Denial": token}
    reply = await call(gw, "GET", "/_walletgate/denial", headers=fetch)
    assert_error(reply, 400, "BAD_REQUEST")
    assert "Set-Cookie" not in reply.headers and "Location" not in reply.headers


@pytest.mark.parametrize("name", ["X-Gateway-Role", "X-Forwarded-Evil"])
async def test_ingresses_that_remove_by_name_get_no_decision_for_unnamed_gateway_headers(
    start_gateway, name
):
    """nginx and Envoy cannot remove X-Gateway-* / X-Forwarded-* by pattern: such a
    request is refused rather than passed on; Caddy and Traefik remove them."""
    gw = await start_gateway(listen=TRUSTED)
    listing = {"X-Original-Method": "GET", "X-Original-URI": "/api/v1/orders", name: "1"}
    refused = await decide(gw, listing)
    assert_error(refused, 400, "BAD_REQUEST")
    assert refused.body["details"]["header"] == name
    envoy = await call(gw, "GET", "/_walletgate/ext_authz/api/v1/orders", headers={name: "1"})
    assert_error(envoy, 400, "BAD_REQUEST")
    removing = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/v1/orders", name: "1"}
    assert (await decide(gw, removing)).status == 200
    named = {"X-Original-Method": "GET", "X-Original-URI": "/api/v1/orders"}
    assert (await decide(gw, named | {"X-Gateway-Wallet": "SPFORGED"})).status == 200


async def test_auth_mode_forwards_only_body_authenticated_routes(start_gateway, stacks_signer):
    gw = await start_gateway(listen=TRUSTED)
    key = await create_api_key(gw, stacks_signer)  # key management: served
    order = await create_order(gw, stacks_signer, api_key=key["apiKey"])  # forwarded
    before = len(gw.backend_requests)
    reply = await call(gw, "GET", f"/api/v1/orders/{order['uuid']}")
    assert_error(reply, 404, "NOT_FOUND")
    execute = await call(
        gw, "POST", f"/api/v1/orders/{order['uuid']}/execute", headers={"X-API-Key": key["apiKey"]}
    )
    assert_error(execute, 404, "NOT_FOUND")
    assert len(gw.backend_requests) == before
