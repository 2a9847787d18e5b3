"""The operator API (/admin/v1/ on the admin listener), end to end on both deployments.

Every call goes over loopback to a real gateway; keys are made through the real
wallet-signed endpoint and used through the real public listener.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.wallets.signing import signed_body, signed_headers
from tests.conftest import RunningGateway, create_api_key, create_order, now_ms
from tests.support.key_api import (
    KEY_ID,
    SECRET_FIELDS,
    assert_error,
    probe_key,
    store_snapshot,
)
from tests.support.openapi_check import AnswerChecker
from tests.support.operator_support import (
    READ_TOKEN,
    WRITE_TOKEN,
    events_of,
    op,
    operator_sections,
)

pytestmark = pytest.mark.deployments

UNKNOWN_KEY = "key_0123456789abcdef"


@pytest.fixture
async def gw(start_gateway) -> RunningGateway:
    return await start_gateway(**operator_sections())


async def _keys(gw: RunningGateway, signer, count: int, prefix: str = "bot") -> list[dict]:
    return [await create_api_key(gw, signer, name=f"{prefix} {i}") for i in range(count)]


async def operator_events(gw: RunningGateway) -> list[dict]:
    """Events an operator caused (a key's own `new_ip` events come and go with usage)."""
    return [e for e in await events_of(gw) if e["actor"].startswith("operator")]


async def _all_pages(
    gw: RunningGateway, path: str, field: str, params: dict[str, str]
) -> tuple[list[dict], int]:
    """Every item, following nextCursor; a cursor that never ends fails after 10 pages."""
    seen: list[dict] = []
    cursor = None
    for pages in range(1, 11):
        reply = await op(gw, "GET", path, params=params | ({"cursor": cursor} if cursor else {}))
        assert reply.status == 200, reply.text
        seen += reply.body[field]
        if (cursor := reply.body["nextCursor"]) is None:
            return seen, pages
    raise AssertionError(f"{path}: still a next page after 10")


# -- the door: tokens, scopes, the per-token limit ------------------------------------


async def test_without_tokens_every_operator_path_answers_404(start_gateway):
    gw = await start_gateway()
    for method, path in (
        ("GET", "/keys"),
        ("GET", "/openapi.json"),
        ("PATCH", f"/keys/{UNKNOWN_KEY}"),
        ("PUT", "/wallets/SP000/tier"),
        ("GET", "/nothing/here"),
    ):
        reply = await op(gw, method, path, WRITE_TOKEN, json={})
        assert_error(reply, 404, "NOT_FOUND")


async def test_missing_or_wrong_token_is_401_with_a_bearer_challenge(gw):
    for headers in (
        {},
        {"Authorization": "Bearer not-a-configured-token"},
        {"Authorization": f"Basic {READ_TOKEN}"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer " + "x" * 600},
        {"Authorization": f"Bearer {READ_TOKEN}é"},
        {"Authorization": f"Bearer {READ_TOKEN} extra"},
    ):
        reply = await op(gw, "GET", "/keys", None, headers=headers)
        assert_error(reply, 401, "UNAUTHORIZED")
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert READ_TOKEN not in reply.text


async def test_read_token_reads_and_gets_403_on_every_write(gw, stacks_signer):
    key = (await create_api_key(gw, stacks_signer))["keyId"]
    before = await store_snapshot(gw)
    assert (await op(gw, "GET", "/keys", READ_TOKEN)).status == 200
    for method, path, body in (
        ("PATCH", f"/keys/{key}", {"status": "suspended"}),
        ("DELETE", f"/keys/{key}", None),
        ("PUT", f"/wallets/{stacks_signer.address}/tier", {"tier": "whale"}),
    ):
        reply = await op(gw, method, path, READ_TOKEN, json=body)
        assert_error(reply, 403, "PERMISSION_DENIED")
        assert reply.body["details"] == {"required": "write", "granted": "read"}
    assert await store_snapshot(gw) == before
    assert await operator_events(gw) == []


async def test_each_token_has_its_own_limit_shared_by_every_call(start_gateway):
    gw = await start_gateway(**operator_sections(), rate_limits={"operator_per_minute": 3})
    replies = [await op(gw, "GET", "/keys", READ_TOKEN) for _ in range(3)]
    assert [r.status for r in replies] == [200, 200, 200]
    assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0"]
    refused = await op(gw, "GET", f"/keys/{UNKNOWN_KEY}", READ_TOKEN)
    assert_error(refused, 429, "RATE_LIMITED")
    assert refused.body["details"]["scope"] == "operator"
    assert "Retry-After" in refused.headers
    # Another token, and a stranger's wrong token, are charged elsewhere.
    assert (await op(gw, "GET", "/keys", WRITE_TOKEN)).status == 200
    assert_error(await op(gw, "GET", "/keys", "wrong"), 401, "UNAUTHORIZED")


# -- keys --------------------------------------------------------------------------------


async def test_keys_are_listed_newest_first_a_page_at_a_time_without_secrets(
    gw, stacks_signer, evm_signer
):
    made = await _keys(gw, stacks_signer, 3, "stacks") + await _keys(gw, evm_signer, 2, "evm")
    seen, pages = await _all_pages(gw, "/keys", "apiKeys", {"limit": "2"})
    assert pages == 3
    assert sorted(k["keyId"] for k in seen) == sorted(k["keyId"] for k in made)
    order = [(k["createdAt"], k["keyId"]) for k in seen]
    assert order == sorted(order, reverse=True)
    for key in seen:
        assert key["effectiveLimits"]["perMinute"] == 100
        assert key["usageStats"]["hourly"] == [] and key["clientIps"] == []
        assert not SECRET_FIELDS & set(key)
        assert not any(m["apiKey"] in str(key) for m in made)

    only_evm = await op(gw, "GET", "/keys", params={"wallet": evm_signer.address})
    assert {k["name"] for k in only_evm.body["apiKeys"]} == {"evm 0", "evm 1"}


async def test_key_listing_filters_by_effective_status(gw, stacks_signer):
    keys = await _keys(gw, stacks_signer, 2)
    reply = await op(
        gw, "PATCH", f"/keys/{keys[0]['keyId']}", WRITE_TOKEN, json={"status": "suspended"}
    )
    assert reply.status == 200, reply.text
    suspended = await op(gw, "GET", "/keys", params={"status": "suspended"})
    assert [k["keyId"] for k in suspended.body["apiKeys"]] == [keys[0]["keyId"]]
    active = await op(gw, "GET", "/keys", params={"status": "active"})
    assert [k["keyId"] for k in active.body["apiKeys"]] == [keys[1]["keyId"]]


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "a2V5XzEyMw"},  # base64 of something that is no page mark
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"status": "deleted"},
        {"wallet": "not-a-wallet"},
        {"sort": "oldest"},
    ],
)
async def test_bad_listing_queries_are_400(gw, params):
    reply = await op(gw, "GET", "/keys", params=params)
    assert reply.status == 400, reply.text
    assert reply.body["code"] in ("BAD_REQUEST", "INVALID_WALLET")


async def test_one_key_as_its_owner_sees_it_with_usage_and_limits(gw, stacks_signer):
    created = await create_api_key(gw, stacks_signer)
    assert (await probe_key(gw, created["apiKey"])).status == 200
    reply = await op(gw, "GET", f"/keys/{created['keyId']}")
    assert reply.status == 200, reply.text
    key = reply.body
    assert key["keyId"] == created["keyId"] and KEY_ID.match(key["keyId"])
    assert key["walletAddress"] == stacks_signer.address
    assert key["usageStats"]["totalRequests"] == 1
    assert sum(h["success"] for h in key["usageStats"]["hourly"]) == 1
    assert [(c["ip"], c["requests"]) for c in key["clientIps"]] == [("127.0.0.1", 1)]
    assert key["effectiveLimits"] == {
        "tier": None,
        "perMinute": 100,
        "perHour": 1000,
        "perDay": 10000,
    }
    assert not SECRET_FIELDS & set(key) and created["apiKey"] not in reply.text
    assert_error(await op(gw, "GET", f"/keys/{UNKNOWN_KEY}"), 404, "NOT_FOUND")
    assert_error(await op(gw, "GET", "/keys/key_nothex"), 400, "BAD_REQUEST")


async def test_suspension_and_resumption_apply_at_once_with_operator_events(gw, stacks_signer):
    created = await create_api_key(gw, stacks_signer)
    path = f"/keys/{created['keyId']}"
    body = {"status": "suspended", "reason": "ticket 42"}
    reply = await op(gw, "PATCH", path, WRITE_TOKEN, json=body)
    assert reply.status == 200 and reply.body["status"] == "suspended", reply.text
    assert_error(await probe_key(gw, created["apiKey"]), 401, "API_KEY_INACTIVE")

    reply = await op(gw, "PATCH", path, WRITE_TOKEN, json={"status": "active"})
    assert reply.body["status"] == "active"
    assert (await probe_key(gw, created["apiKey"])).status == 200

    # The key's own new_ip event (its first use) is left out: it comes with usage.
    events = [e for e in await events_of(gw, keyId=created["keyId"]) if e["event"] != "new_ip"]
    assert [e["event"] for e in events] == ["resumed", "suspended", "created"]
    assert [e["actor"] for e in events[:2]] == ["operator:risk", "operator:risk"]
    assert events[1]["details"] == {"reason": "ticket 42"}
    assert events[1]["clientIp"] == "127.0.0.1"


async def test_limit_and_expiry_changes_are_one_event_and_show_in_the_headers(gw, stacks_signer):
    created = await create_api_key(gw, stacks_signer)
    expiry = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    body = {"rateLimit": 7, "expiresAt": expiry.isoformat(), "reason": "abuse"}
    reply = await op(gw, "PATCH", f"/keys/{created['keyId']}", WRITE_TOKEN, json=body)
    assert reply.status == 200, reply.text
    assert reply.body["rateLimit"] == 7 and reply.body["effectiveLimits"]["perMinute"] == 7
    assert reply.body["expiresAt"] == expiry.isoformat().replace("+00:00", "Z")

    used = await probe_key(gw, created["apiKey"])
    assert used.headers["X-RateLimit-Limit"] == "7"
    assert '"minute";q=7;w=60' in used.headers["RateLimit-Policy"]

    (changed,) = await events_of(gw, kind="limits_changed")
    assert changed["actor"] == "operator:risk" and changed["keyId"] == created["keyId"]
    assert changed["details"]["rateLimit"] == {"from": 100, "to": 7}
    assert changed["details"]["reason"] == "abuse"

    cleared = await op(
        gw, "PATCH", f"/keys/{created['keyId']}", WRITE_TOKEN, json={"expiresAt": None}
    )
    assert cleared.body["expiresAt"] is None
    assert len(await events_of(gw, kind="limits_changed")) == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": "only a reason"},
        {"status": "revoked"},
        {"status": "paused"},
        {"rateLimit": 0},
        {"rateLimit": 101},  # above [rate_limits].per_minute: the wallet has no tier
        {"rateLimit": "50"},
        {"rateLimit": 5.5},
        {"expiresAt": "yesterday"},
        {"expiresAt": "2001-01-01T00:00:00Z"},
        {"expiresAt": 1700000000},
        {"status": "suspended", "reason": "x" * 501},
        {"status": "suspended", "owner": "someone else"},
        ["status", "suspended"],
    ],
)
async def test_bad_changes_are_400_and_change_nothing(gw, stacks_signer, body):
    created = await create_api_key(gw, stacks_signer)
    before = await store_snapshot(gw)
    reply = await op(gw, "PATCH", f"/keys/{created['keyId']}", WRITE_TOKEN, json=body)
    assert_error(reply, 400, "BAD_REQUEST")
    assert await store_snapshot(gw) == before
    assert await operator_events(gw) == []


async def test_malformed_json_and_unknown_keys_change_nothing(gw, stacks_signer):
    created = await create_api_key(gw, stacks_signer)
    before = await store_snapshot(gw)
    raw = await op(
        gw,
        "PATCH",
        f"/keys/{created['keyId']}",
        WRITE_TOKEN,
        headers={"Content-Type": "application/json"},
        json=None,
    )
    assert_error(raw, 400, "BAD_REQUEST")
    unknown = await op(gw, "PATCH", f"/keys/{UNKNOWN_KEY}", WRITE_TOKEN, json={"rateLimit": 5})
    assert_error(unknown, 404, "NOT_FOUND")
    assert_error(await op(gw, "DELETE", f"/keys/{UNKNOWN_KEY}", WRITE_TOKEN), 404, "NOT_FOUND")
    assert await store_snapshot(gw) == before


async def test_revocation_with_a_reason_is_final(gw, stacks_signer):
    first, second = await _keys(gw, stacks_signer, 2)
    body = await op(gw, "DELETE", f"/keys/{first['keyId']}", WRITE_TOKEN, json={"reason": "leak"})
    assert body.status == 200 and body.body["status"] == "revoked", body.text
    query = await op(
        gw, "DELETE", f"/keys/{second['keyId']}", WRITE_TOKEN, params={"reason": "rotation"}
    )
    assert query.body["status"] == "revoked"
    for created in (first, second):
        assert_error(await probe_key(gw, created["apiKey"]), 401, "API_KEY_INACTIVE")
    revoked = await events_of(gw, kind="revoked")
    assert {(e["keyId"], e["details"]["reason"]) for e in revoked} == {
        (first["keyId"], "leak"),
        (second["keyId"], "rotation"),
    }
    assert {e["actor"] for e in revoked} == {"operator:risk"}

    again = await op(gw, "PATCH", f"/keys/{first['keyId']}", WRITE_TOKEN, json={"status": "active"})
    assert_error(again, 409, "KEY_REVOKED")
    assert_error(await probe_key(gw, first["apiKey"]), 401, "API_KEY_INACTIVE")


# -- events --------------------------------------------------------------------------------


async def test_events_filter_by_wallet_key_kind_and_since_across_pages(
    gw, stacks_signer, evm_signer
):
    stacks_keys = await _keys(gw, stacks_signer, 3)
    await create_api_key(gw, evm_signer)
    for key in stacks_keys:
        await op(gw, "PATCH", f"/keys/{key['keyId']}", WRITE_TOKEN, json={"status": "suspended"})

    params = {"wallet": stacks_signer.address, "limit": "2"}
    seen, pages = await _all_pages(gw, "/events", "events", params)
    assert pages == 3 and len(seen) == 6
    assert {e["wallet"] for e in seen} == {stacks_signer.address}

    one = await events_of(gw, keyId=stacks_keys[0]["keyId"], kind="suspended")
    assert [e["keyId"] for e in one] == [stacks_keys[0]["keyId"]]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await events_of(gw, since=future) == []

    for params in (
        {"kind": "deleted"},
        {"since": "last week"},
        {"cursor": "-1"},
        {"limit": "1000"},
        {"keyId": "key_zz"},
        {"actor": "operator:risk"},
    ):
        assert (await op(gw, "GET", "/events", params=params)).status == 400, params
    missing = await op(gw, "GET", "/events", params={"keyId": UNKNOWN_KEY})
    assert_error(missing, 404, "NOT_FOUND")


# -- wallets and tiers -----------------------------------------------------------------------


async def test_wallet_summary_has_keys_tier_and_usage(gw, stacks_signer):
    keys = await _keys(gw, stacks_signer, 2)
    for key in keys:
        assert (await probe_key(gw, key["apiKey"])).status == 200
    reply = await op(gw, "GET", f"/wallets/{stacks_signer.address}")
    assert reply.status == 200, reply.text
    wallet = reply.body
    assert wallet["walletAddress"] == stacks_signer.address and wallet["tier"] is None
    assert wallet["usageStats"]["totalRequests"] == 2
    assert wallet["keyCounts"] == {"active": 2, "suspended": 0, "revoked": 0}
    assert {k["keyId"] for k in wallet["apiKeys"]} == {k["keyId"] for k in keys}
    assert_error(await op(gw, "GET", "/wallets/not-a-wallet"), 400, "INVALID_WALLET")


async def test_a_tier_caps_the_keys_limits_at_once_and_clearing_it_restores_them(gw, stacks_signer):
    created = await create_api_key(gw, stacks_signer)
    path = f"/wallets/{stacks_signer.address}/tier"
    reply = await op(gw, "PUT", path, WRITE_TOKEN, json={"tier": "market_maker"})
    assert reply.status == 200, reply.text
    assert reply.body["previousTier"] is None
    assert reply.body["tier"] == {
        "name": "market_maker",
        "perMinute": 5,
        "perHour": 50,
        "perDay": 500,
    }

    used = await probe_key(gw, created["apiKey"])
    assert used.headers["X-RateLimit-Limit"] == "5"
    assert used.headers["RateLimit-Policy"] == (
        '"minute";q=5;w=60, "hour";q=50;w=3600, "day";q=500;w=86400'
    )
    summary = await op(gw, "GET", f"/wallets/{stacks_signer.address}")
    assert summary.body["tier"]["name"] == "market_maker"

    cleared = await op(gw, "PUT", path, WRITE_TOKEN, json={"tier": None})
    assert cleared.body["previousTier"] == "market_maker" and cleared.body["tier"] is None
    again = await probe_key(gw, created["apiKey"])
    assert again.headers["X-RateLimit-Limit"] == "100"

    tier_events = [e for e in await events_of(gw, kind="limits_changed") if e["keyId"] is None]
    assert [e["details"]["tier"] for e in tier_events] == [
        {"from": "market_maker", "to": None},
        {"from": None, "to": "market_maker"},
    ]
    assert {e["actor"] for e in tier_events} == {"operator:risk"}


async def test_a_higher_tier_lets_an_operator_raise_a_keys_limit(gw, stacks_signer):
    created = await create_api_key(gw, stacks_signer)
    key_path = f"/keys/{created['keyId']}"
    refused = await op(gw, "PATCH", key_path, WRITE_TOKEN, json={"rateLimit": 800})
    assert_error(refused, 400, "BAD_REQUEST")
    assert refused.body["details"]["max"] == 100
    await op(
        gw, "PUT", f"/wallets/{stacks_signer.address}/tier", WRITE_TOKEN, json={"tier": "whale"}
    )
    raised = await op(gw, "PATCH", key_path, WRITE_TOKEN, json={"rateLimit": 800})
    assert raised.status == 200, raised.text
    assert (await probe_key(gw, created["apiKey"])).headers["X-RateLimit-Limit"] == "800"


@pytest.mark.parametrize(
    "body",
    [{"tier": "platinum"}, {"tier": 3}, {}, {"tier": "whale", "extra": 1}, "whale"],
)
async def test_unknown_tiers_and_bad_bodies_change_nothing(gw, stacks_signer, body):
    created = await create_api_key(gw, stacks_signer)
    path = f"/wallets/{stacks_signer.address}/tier"
    reply = await op(gw, "PUT", path, WRITE_TOKEN, json=body)
    assert_error(reply, 400, "BAD_REQUEST")
    assert (await op(gw, "GET", f"/wallets/{stacks_signer.address}")).body["tier"] is None
    assert (await probe_key(gw, created["apiKey"])).headers["X-RateLimit-Limit"] == "100"
    assert await operator_events(gw) == []
    bad_wallet = await op(gw, "PUT", "/wallets/SPNOPE/tier", WRITE_TOKEN, json={"tier": "whale"})
    assert_error(bad_wallet, 400, "INVALID_WALLET")


# -- usage ----------------------------------------------------------------------------------------


async def test_top_keys_rank_by_requests_and_failures(gw, stacks_signer):
    busy, quiet, _idle = await _keys(gw, stacks_signer, 3)
    for _ in range(3):
        await probe_key(gw, busy["apiKey"])
    await probe_key(gw, quiet["apiKey"])
    reply = await op(gw, "GET", "/usage/top", params={"window": "1h", "by": "requests"})
    assert reply.status == 200, reply.text
    ranked = [(k["keyId"], k["requests"]) for k in reply.body["keys"]]
    assert ranked == [(busy["keyId"], 3), (quiet["keyId"], 1)]
    failed = await op(gw, "GET", "/usage/top", params={"by": "failed", "window": "24h"})
    assert failed.body["keys"] == []
    for params in ({"window": "1y"}, {"window": "8d"}, {"by": "latency"}, {"limit": "0"}):
        assert (await op(gw, "GET", "/usage/top", params=params)).status == 400, params


# -- the description ---------------------------------------------------------------------------


async def test_the_openapi_document_describes_every_operation(gw):
    reply = await op(gw, "GET", "/openapi.json", token=None)
    assert reply.status == 200, reply.text
    doc = reply.body
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["operatorToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An operator token; `read` or `write` scope.",
    }
    operations = {
        (method.upper(), path): op_doc
        for path, item in doc["paths"].items()
        for method, op_doc in item.items()
    }
    assert set(operations) == {
        ("GET", "/keys"),
        ("GET", "/keys/{keyId}"),
        ("PATCH", "/keys/{keyId}"),
        ("DELETE", "/keys/{keyId}"),
        ("GET", "/events"),
        ("GET", "/wallets/{address}"),
        ("PUT", "/wallets/{address}/tier"),
        ("GET", "/usage/top"),
    }
    ids = [o["operationId"] for o in operations.values()]
    assert len(set(ids)) == len(ids)
    schemas = doc["components"]["schemas"]
    for operation in operations.values():
        success = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert success["$ref"].split("/")[-1] in schemas
        body = operation.get("requestBody")
        if body:
            assert body["content"]["application/json"]["schema"]["$ref"].split("/")[-1] in schemas


async def test_a_wallet_in_a_tier_creates_keys_up_to_the_tiers_figure(
    gw, stacks_signer, evm_signer
):
    await op(
        gw, "PUT", f"/wallets/{stacks_signer.address}/tier", WRITE_TOKEN, json={"tier": "whale"}
    )
    fast = await create_api_key(gw, stacks_signer, name="fast", rateLimit=800)
    default = await create_api_key(gw, stacks_signer, name="default")
    assert (fast["rateLimit"], default["rateLimit"]) == (800, 1000)
    assert (await probe_key(gw, fast["apiKey"])).headers["X-RateLimit-Limit"] == "800"

    body = signed_body(
        evm_signer,
        "create_api_key",
        {"keyName": "too fast", "rateLimit": 800},
        now_ms=now_ms(gw),
    )
    async with gw.client.post(gw.at("/api/v1/api-keys"), json=body) as response:
        assert response.status == 400
        assert (await response.json())["code"] == "INVALID_MESSAGE"


async def test_a_tiered_wallets_signed_requests_have_the_tiers_windows(gw, stacks_signer):
    path = f"/wallets/{stacks_signer.address}/tier"
    await op(gw, "PUT", path, WRITE_TOKEN, json={"tier": "market_maker"})
    order = await create_order(gw, stacks_signer)
    headers = signed_headers(
        stacks_signer, "execute_order", {"uuid": order["uuid"]}, now_ms=now_ms(gw)
    )
    url = gw.at(f"/api/v1/orders/{order['uuid']}/execute")
    async with gw.client.post(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["RateLimit-Policy"] == (
            '"minute";q=5;w=60, "hour";q=50;w=3600, "day";q=500;w=86400'
        )


async def test_operator_tokens_work_beside_the_admin_token_which_guards_the_rest(start_gateway):
    gw = await start_gateway(**operator_sections(token="metrics-secret"))
    assert (await op(gw, "GET", "/keys", READ_TOKEN)).status == 200
    async with gw.client.get(gw.admin_url + "/metrics") as response:
        assert response.status == 401
    headers = {"Authorization": "Bearer metrics-secret"}
    assert_error(await op(gw, "GET", "/keys", None, headers=headers), 401, "UNAUTHORIZED")
    unknown = await op(gw, "POST", "/keys", WRITE_TOKEN, json={})
    assert_error(unknown, 405, "METHOD_NOT_ALLOWED")


async def test_every_answer_matches_the_schema_the_document_gives_it(gw, stacks_signer, tmp_path):
    document = (await op(gw, "GET", "/openapi.json", token=None)).body
    path = tmp_path / "operator-openapi.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    validator = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "openapi-spec-validator"),
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await validator.communicate()
    assert validator.returncode == 0, output.decode()

    checker = AnswerChecker(document)
    created = await create_api_key(gw, stacks_signer)
    await probe_key(gw, created["apiKey"])
    key, wallet = created["keyId"], stacks_signer.address
    calls = [
        ("GET", "/keys", "/keys", None, READ_TOKEN),
        ("GET", "/keys?cursor=bad", "/keys", None, READ_TOKEN),
        ("GET", f"/keys/{key}", "/keys/{keyId}", None, READ_TOKEN),
        ("GET", f"/keys/{UNKNOWN_KEY}", "/keys/{keyId}", None, READ_TOKEN),
        ("PATCH", f"/keys/{key}", "/keys/{keyId}", {"rateLimit": 9}, WRITE_TOKEN),
        ("PATCH", f"/keys/{key}", "/keys/{keyId}", {"status": "suspended"}, READ_TOKEN),
        ("GET", "/events", "/events", None, READ_TOKEN),
        ("GET", f"/wallets/{wallet}", "/wallets/{address}", None, READ_TOKEN),
        (
            "PUT",
            f"/wallets/{wallet}/tier",
            "/wallets/{address}/tier",
            {"tier": "whale"},
            WRITE_TOKEN,
        ),
        ("PUT", f"/wallets/{wallet}/tier", "/wallets/{address}/tier", {"tier": "x"}, WRITE_TOKEN),
        ("GET", "/usage/top", "/usage/top", None, READ_TOKEN),
        ("GET", "/usage/top", "/usage/top", None, "wrong-token"),
        ("DELETE", f"/keys/{key}", "/keys/{keyId}", None, WRITE_TOKEN),
        ("PATCH", f"/keys/{key}", "/keys/{keyId}", {"status": "active"}, WRITE_TOKEN),
    ]
    for method, target, template, body, token in calls:
        reply = await op(gw, method, target, token, json=body)
        checker.check(method, template, reply.status, reply.body, reply.headers)
    succeeded = {operation for operation, status in checker.seen if status == 200}
    assert len(succeeded) == 8
    assert {status for _, status in checker.seen} == {200, 400, 401, 403, 404, 409}


async def test_a_tokens_limit_is_shared_by_instances_on_redis(start_gateway, deployment):
    """On Redis the token's limit is one budget for every instance; in process
    (the embedded default) each instance counts its own, by design."""
    sections = operator_sections() | {"rate_limits": {"operator_per_minute": 3}}
    first = await start_gateway(**sections)
    second = await start_gateway(**sections)
    replies = [await op(gw, "GET", "/keys", READ_TOKEN) for gw in (first, second, first)]
    assert [r.status for r in replies] == [200, 200, 200]
    fourth = await op(second, "GET", "/keys", READ_TOKEN)
    if deployment.database is not None:
        assert_error(fourth, 429, "RATE_LIMITED")
        return
    assert fourth.status == 200  # the second instance has counted two of its own three
    assert (await op(first, "GET", "/keys", READ_TOKEN)).status == 200
    assert_error(await op(first, "GET", "/keys", READ_TOKEN), 429, "RATE_LIMITED")
