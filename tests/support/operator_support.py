"""Helpers for the operator API tests: tokens, settings sections and calls."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from gateway.operator_config import OperatorTokenSettings, TierSettings
from tests.conftest import RunningGateway
from tests.support.key_api import Reply

READ_TOKEN = f"wgop_read_{secrets.token_urlsafe(24)}"
WRITE_TOKEN = f"wgop_write_{secrets.token_urlsafe(24)}"
MARKET_MAKER = TierSettings("market_maker", per_minute=5, per_hour=50, per_day=500)
WHALE = TierSettings("whale", per_minute=1000, per_hour=20000, per_day=200000)


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOKENS = (
    OperatorTokenSettings(sha256(READ_TOKEN), "support", "read"),
    OperatorTokenSettings(sha256(WRITE_TOKEN), "risk", "write"),
)


def operator_sections(**admin: Any) -> dict[str, Any]:
    """Settings sections of a gateway with both tokens and two tiers."""
    return {"admin": {"tokens": TOKENS, **admin}, "tiers": (MARKET_MAKER, WHALE)}


async def op(
    gw: RunningGateway,
    method: str,
    path: str,
    token: str | None = READ_TOKEN,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Reply:
    """A call to the admin listener's operator API with `Authorization: Bearer token`."""
    sent = dict(headers or {})
    if token is not None:
        sent.setdefault("Authorization", f"Bearer {token}")
    url = gw.admin_url + "/admin/v1" + path
    async with gw.client.request(method, url, json=json, headers=sent, params=params) as response:
        text = await response.text()
        body = await response.json(content_type=None) if text else None
        return Reply(response.status, body, response.headers, text)


async def events_of(gw: RunningGateway, **filters: str) -> list[dict[str, Any]]:
    reply = await op(gw, "GET", "/events", params={"limit": "100", **filters})
    assert reply.status == 200, reply.text
    return list(reply.body["events"])
