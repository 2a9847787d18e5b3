"""The API-key record and its closed sets.

The plaintext key is never a field: a record carries only its SHA-256 and a
display hint, so nothing that holds an `ApiKey` can leak the secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Final


class Permission(StrEnum):
    CREATE = "create"
    EXECUTE = "execute"
    CANCEL = "cancel"


class KeyStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Dialect(StrEnum):
    """Which API created the key: the wallet-signed v1 API or the EVM `/api-key` one."""

    V1 = "v1"
    EVM = "evm"


# The counters of schema version 1; later ones are added by migrations.
V1_COUNTER_FIELDS: Final = (
    "total_requests",
    "successful_requests",
    "failed_requests",
    "creation_count",
    "execution_count",
    "cancellation_count",
)
COUNTER_FIELDS: Final = (*V1_COUNTER_FIELDS, "rate_limited_requests")


@dataclass(frozen=True, slots=True)
class UsageStats:
    total_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    creation_count: int = 0
    execution_count: int = 0
    cancellation_count: int = 0
    rate_limited_requests: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "totalRequests": self.total_requests,
            "successfulRequests": self.successful_requests,
            "failedRequests": self.failed_requests,
            "creationCount": self.creation_count,
            "executionCount": self.execution_count,
            "cancellationCount": self.cancellation_count,
            "rateLimitedRequests": self.rate_limited_requests,
        }

    def plus(self, delta: UsageDelta) -> UsageStats:
        """These counters with a not yet flushed delta added (for up-to-date reads)."""
        return UsageStats(*(getattr(self, n) + getattr(delta, n) for n in COUNTER_FIELDS))


@dataclass(slots=True)
class UsageDelta:
    """Usage counted in memory since the last flush; merged, then written in one batch."""

    total_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    creation_count: int = 0
    execution_count: int = 0
    cancellation_count: int = 0
    last_used_at: datetime | None = None
    # After last_used_at: added later, and positional construction must keep working.
    rate_limited_requests: int = 0

    def add(self, other: UsageDelta) -> None:
        for name in COUNTER_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_used_at = latest(self.last_used_at, other.last_used_at)

    def is_empty(self) -> bool:
        return self.last_used_at is None and not any(getattr(self, n) for n in COUNTER_FIELDS)


def latest(first: datetime | None, second: datetime | None) -> datetime | None:
    """The later of two optional moments (None means never)."""
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


@dataclass(frozen=True, slots=True, repr=False)
class ApiKey:
    id: str
    key_hash: str
    key_hint: str
    wallet: str  # canonical form, used for every comparison
    wallet_display: str  # as the wallet sent it at creation, echoed in responses
    chain: str  # "stacks" or "evm"
    dialect: Dialect
    name: str
    permissions: frozenset[Permission]
    status: KeyStatus
    rate_limit: int
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    # End of a rotation grace period: from then on the key counts as revoked.
    revoke_at: datetime | None = None
    ip_allowlist: tuple[str, ...] = ()
    usage: UsageStats = field(default_factory=UsageStats)

    def __post_init__(self) -> None:
        # Naive datetimes would make every later comparison raise or lie.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime) and value.utcoffset() is None:
                raise ValueError(f"ApiKey.{f.name} must be timezone-aware")

    def __repr__(self) -> str:
        return (
            f"ApiKey(id={self.id!r}, wallet={self.wallet!r}, dialect={self.dialect.value}, "
            f"name={self.name!r}, status={self.status.value})"
        )

    def effective_status(self, now: datetime) -> KeyStatus:
        if self.status == KeyStatus.REVOKED or (
            self.revoke_at is not None and self.revoke_at <= now
        ):
            return KeyStatus.REVOKED
        return self.status

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def is_usable(self, now: datetime) -> bool:
        return self.effective_status(now) == KeyStatus.ACTIVE and not self.is_expired(now)
