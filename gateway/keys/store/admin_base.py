"""What the operator API asks of a store beyond the wallet-facing protocol:
pages of keys across wallets, limit changes, wallets' rate-limit tiers and the
busiest keys. Schema version 4 (wallet tiers) is shared by both backends.

A tier change is written to the same change log as a revocation, under a
marker that can never be a key hash (`wallet_change`), so every instance
learns of it with the same poll and in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from gateway.keys.audit import KeyEvent
from gateway.keys.model import ApiKey, KeyStatus

_WALLET_MARK: Final = "wallet:"

# A page continues after this (created_at, id) of the last key of the previous one.
PageMark = tuple[datetime, str]


def wallet_change(wallet: str) -> str:
    """The change-log entry of a wallet-level change (hashes are hex: no colon)."""
    return f"{_WALLET_MARK}{wallet}"


def changed_wallet(entry: str) -> str | None:
    """The wallet of a wallet-level change-log entry, None for a key's hash."""
    return entry[len(_WALLET_MARK) :] if entry.startswith(_WALLET_MARK) else None


class TopBy(StrEnum):
    """What `/admin/v1/usage/top` ranks keys by."""

    REQUESTS = "requests"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"


# Sums over key_usage_hourly's outcome columns; `failed` includes 429s, as in §6.
TOP_EXPRESSIONS: Final = {
    TopBy.REQUESTS: "SUM(success + client_error + rate_limited + server_error)",
    TopBy.RATE_LIMITED: "SUM(rate_limited)",
    TopBy.FAILED: "SUM(client_error + rate_limited + server_error)",
}


@dataclass(frozen=True, slots=True)
class KeyTotals:
    """One key's requests within a window, by outcome."""

    key: ApiKey
    requests: int
    rate_limited: int
    failed: int


def top_query(
    by: TopBy, placeholders: tuple[str, str], key_columns: str, *, join_alias: str = "k"
) -> str:
    """Keys ranked by `by` over hours from a moment on; placeholders: (since, limit)."""
    since, limit = placeholders
    columns = ", ".join(f"{join_alias}.{c.strip()}" for c in key_columns.split(","))
    return f"""
        SELECT {columns}, t.requests, t.rate_limited_total, t.failed, t.score FROM (
            SELECT key_id,
                {TOP_EXPRESSIONS[TopBy.REQUESTS]} AS requests,
                {TOP_EXPRESSIONS[TopBy.RATE_LIMITED]} AS rate_limited_total,
                {TOP_EXPRESSIONS[TopBy.FAILED]} AS failed,
                {TOP_EXPRESSIONS[by]} AS score
            FROM key_usage_hourly WHERE hour >= {since}
            GROUP BY key_id
        ) t JOIN api_keys {join_alias} ON {join_alias}.id = t.key_id
        WHERE t.score > 0
        ORDER BY t.score DESC, {join_alias}.id
        LIMIT {limit}"""


def schema_v4(*, time_type: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE wallet_tiers (
            wallet TEXT PRIMARY KEY,
            tier TEXT NOT NULL,
            updated_at {time_type} NOT NULL
        )""",
    )


class AdminQueries(Protocol):
    async def list_keys_page(
        self,
        *,
        wallet: str | None = None,
        status: KeyStatus | None = None,
        after: PageMark | None = None,
        limit: int = 100,
    ) -> list[ApiKey]:
        """Newest first (created_at, then id), continuing after `after`."""

    async def update_limits(
        self,
        key_id: str,
        *,
        rate_limit: int | None,
        expires_at: datetime | None,
        clear_expiry: bool,
        event: KeyEvent,
    ) -> ApiKey | None:
        """Set the rate limit and/or expiry of a key that is not revoked, with its
        event and a change-log entry; None for an unknown or revoked key."""

    async def wallet_tiers(self) -> dict[str, str]:
        """Every wallet that has a tier, with the tier's name."""

    async def set_wallet_tier(self, wallet: str, tier: str | None, event: KeyEvent) -> str | None:
        """Place the wallet in `tier` (None: out of any); returns the previous tier.
        The event and a change-log entry are written only when the tier changed."""

    async def top_keys(self, since: datetime, by: TopBy, limit: int) -> list[KeyTotals]:
        """The keys with the most `by` in hourly usage from `since` on, most first."""


__all__ = [
    "AdminQueries",
    "KeyTotals",
    "PageMark",
    "TopBy",
    "changed_wallet",
    "schema_v4",
    "top_query",
    "wallet_change",
]
