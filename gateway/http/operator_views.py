"""The JSON shapes of the operator API: keys as their owner sees them, with the
limits that apply to them now, wallets with their tier, and usage rankings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from gateway.errors import utc_timestamp
from gateway.http.context import Gateway
from gateway.http.key_routes import key_json
from gateway.keys.clients import ClientIp
from gateway.keys.history import HourlyUsage
from gateway.keys.model import COUNTER_FIELDS, ApiKey, KeyStatus, UsageStats
from gateway.keys.store.admin_base import KeyTotals, TopBy
from gateway.wallets import WalletAddress


def limits_view(gw: Gateway, wallet: str, rate_limit: int | None) -> dict[str, Any]:
    """The windows that apply: the key's own minute figure capped by the wallet's tier
    (a tier no longer configured counts as none, as the limiter treats it)."""
    tier = gw.settings.tier(gw.keys.tiers.of(wallet))
    ceilings = tier or gw.settings.rate_limits
    per_minute = ceilings.per_minute if rate_limit is None else min(rate_limit, ceilings.per_minute)
    return {
        "tier": None if tier is None else tier.name,
        "perMinute": per_minute,
        "perHour": ceilings.per_hour,
        "perDay": ceilings.per_day,
    }


def key_view(
    gw: Gateway, key: ApiKey, hourly: list[HourlyUsage], clients: list[ClientIp]
) -> dict[str, Any]:
    body = key_json(key, gw.keys.now(), hourly, clients)
    return body | {"effectiveLimits": limits_view(gw, key.wallet, key.rate_limit)}


async def key_views(gw: Gateway, keys: Sequence[ApiKey]) -> list[dict[str, Any]]:
    """Keys exactly as their owner sees them (hourly usage and client addresses
    included, two batched reads), plus the limits that apply now."""
    hourly = await gw.keys.hourly_for(keys)
    clients = await gw.keys.clients_for(keys)
    return [key_view(gw, k, hourly[k.id], clients[k.id]) for k in keys]


def tier_view(gw: Gateway, name: str | None) -> dict[str, Any]:
    tier = gw.settings.tier(name)
    if tier is None:
        return {"tier": None}
    return {
        "tier": {
            "name": tier.name,
            "perMinute": tier.per_minute,
            "perHour": tier.per_hour,
            "perDay": tier.per_day,
        }
    }


def wallet_view(
    gw: Gateway, wallet: WalletAddress, keys: list[ApiKey], listed: list[dict[str, Any]]
) -> dict[str, Any]:
    now = gw.keys.now()
    totals = UsageStats(*(sum(getattr(k.usage, name) for k in keys) for name in COUNTER_FIELDS))
    statuses = Counter(k.effective_status(now).value for k in keys)
    return (
        {"walletAddress": wallet.display, "chain": wallet.chain.value}
        | tier_view(gw, gw.keys.tiers.of(wallet.canonical))
        | {
            "effectiveLimits": limits_view(gw, wallet.canonical, None),
            "keyCounts": {s.value: statuses.get(s.value, 0) for s in KeyStatus},
            "usageStats": totals.to_json(),
            "lastUsedAt": _latest(keys),
            "apiKeys": listed,
        }
    )


def _latest(keys: list[ApiKey]) -> str | None:
    moments = [k.last_used_at for k in keys if k.last_used_at is not None]
    return utc_timestamp(max(moments)) if moments else None


def top_view(gw: Gateway, window: str, by: TopBy, totals: list[KeyTotals]) -> dict[str, Any]:
    return {
        "window": window,
        "by": by.value,
        "keys": [
            {
                "keyId": t.key.id,
                "name": t.key.name,
                "walletAddress": t.key.wallet_display,
                "status": t.key.effective_status(gw.keys.now()).value,
                "requests": t.requests,
                "rateLimited": t.rate_limited,
                "failed": t.failed,
            }
            for t in totals
        ],
    }
