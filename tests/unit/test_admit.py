"""The one door's sequence: what the client IP pays, and when, and what the answer carries.

Each test drives `gateway.http.admit.admit` through a real gateway (the
embedded and the scaled deployment) and reads the outcome where a client
sees it: the status, the refusing scope, the rate-limit headers, and the key
store's query count. The gateway trusts 127.0.0.1 as its proxy, so
X-Forwarded-For names the client.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from gateway.keys.service import KeyService
from gateway.keys.token import generate_api_key
from gateway.wallets.signing import StacksSigner, signed_body, signed_headers
from tests.conftest import RunningGateway, create_api_key, create_order, now_ms
from tests.support.key_api import Reply, call, mid_minute_clock, tick

PROXY = {"trusted_proxies": ["127.0.0.1/32"]}
FORGER, OWNER_IP = "10.0.0.1", "10.0.0.2"
GATEWAY_SOURCE = Path(__file__).resolve().parents[2] / "gateway"


async def execute_signed(
    gw: RunningGateway, signer: StacksSigner, uuid: str, ip: str, *, forged: bool = False
) -> Reply:
    tick(gw)
    headers = signed_headers(signer, "execute_order", {"uuid": uuid}, now_ms=now_ms(gw))
    if forged:
        headers["X-Signature"] = "11" * 65
    headers["X-Forwarded-For"] = ip
    return await call(gw, "POST", f"/api/v1/orders/{uuid}/execute", headers=headers)


async def test_a_bad_signature_is_charged_to_the_ip_and_not_to_the_wallet(
    start_gateway, stacks_signer
):
    gw = await start_gateway(
        clock=mid_minute_clock(),
        listen=PROXY,
        rate_limits={"ip_signed_per_minute": 2, "per_minute": 3},
    )
    order = await create_order(gw, stacks_signer)
    forged = [await execute_signed(gw, stacks_signer, order["uuid"], FORGER, forged=True)]
    forged.append(await execute_signed(gw, stacks_signer, order["uuid"], FORGER, forged=True))
    assert [r.status for r in forged] == [401, 401]
    # The forger's address paid before each signature was checked: its third try
    # is refused before any recovery, whoever it names.
    third = await execute_signed(gw, stacks_signer, order["uuid"], FORGER, forged=True)
    assert (third.status, third.body["details"]["scope"]) == (429, "ip_signed")
    # The wallet it named paid nothing: its own first request has its full minute.
    genuine = await execute_signed(gw, stacks_signer, order["uuid"], OWNER_IP)
    assert genuine.status == 200, genuine.text
    assert genuine.headers["X-RateLimit-Limit"] == "3"
    assert genuine.headers["X-RateLimit-Remaining"] == "2"


async def test_an_uncached_key_is_charged_to_the_public_ip_quota_before_the_store_is_asked(
    start_gateway,
):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"public_per_minute": 1}
    )
    lookups = gw.gw.store.operations
    before = lookups["get_by_hash"]
    first = await call(
        gw,
        "GET",
        "/api/v1/orders",
        headers={"X-API-Key": generate_api_key("ck_live_"), "X-Forwarded-For": FORGER},
    )
    assert first.status == 401
    assert lookups["get_by_hash"] - before == 1
    # The quota ran out at that lookup: a fresh made-up key is refused by the
    # IP's quota, and the store is never asked about it.
    second = await call(
        gw,
        "GET",
        "/api/v1/orders",
        headers={"X-API-Key": generate_api_key("ck_live_"), "X-Forwarded-For": FORGER},
    )
    assert (second.status, second.body["details"]["scope"]) == (429, "ip")
    assert lookups["get_by_hash"] - before == 1
    # The failed key was counted once, not once at the lookup and again at the refusal.
    other = await call(gw, "GET", "/api/v1/orders", headers={"X-Forwarded-For": OWNER_IP})
    assert other.status == 200


async def test_a_known_key_costs_its_own_quota_and_never_the_ip(start_gateway, stacks_signer):
    gw = await start_gateway(
        clock=mid_minute_clock(), listen=PROXY, rate_limits={"public_per_minute": 1}
    )
    api_key = (await create_api_key(gw, stacks_signer))["apiKey"]
    replies = [
        await call(
            gw, "GET", "/api/v1/orders", headers={"X-API-Key": api_key, "X-Forwarded-For": FORGER}
        )
        for _ in range(3)
    ]
    # The first use loads the key (one public charge); cached, it costs the IP nothing.
    assert [r.status for r in replies] == [200, 200, 200]
    assert [r.headers["X-RateLimit-Limit"] for r in replies] == ["100"] * 3


async def test_signed_key_creation_answers_with_the_management_quota_not_the_ip_charge(
    start_gateway, stacks_signer
):
    gw = await start_gateway(
        clock=mid_minute_clock(),
        rate_limits={"management_per_minute": 4, "ip_key_creation_per_minute": 9},
    )
    tick(gw)
    body = signed_body(stacks_signer, "create_api_key", {"keyName": "k"}, now_ms=now_ms(gw))
    created = await call(gw, "POST", "/api/v1/api-keys", json=body)
    assert created.status == 201, created.text
    assert created.headers["X-RateLimit-Limit"] == "4"
    assert created.headers["X-RateLimit-Remaining"] == "3"


def _quota_writes() -> dict[str, int]:
    """Modules of the gateway that assign `<something>.quota`, and how often."""
    writes: dict[str, int] = {}
    for path in GATEWAY_SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "quota":
                    name = str(path.relative_to(GATEWAY_SOURCE))
                    writes[name] = writes.get(name, 0) + 1
    return writes


def test_the_request_quota_is_written_once_by_admit_and_only_else_for_unadmitted_errors():
    writes = _quota_writes()
    assert writes.pop("http/admit.py") == 1
    # The error answer of a request that never reached the door (404, 405, 400
    # before admission) counts against the client IP there; nothing else writes it.
    assert set(writes) <= {"http/middleware.py", "ratelimit/base.py"}


def test_the_key_service_takes_no_callback_from_the_http_wing():
    for name in ("authenticate", "cached", "check_format", "load"):
        parameters = inspect.signature(getattr(KeyService, name)).parameters
        assert list(parameters) == ["self", "plaintext"], name
