"""The audit trail: every key event, who caused it and from where.

An event is written by the store in the same transaction as the change it
records, so the trail can neither miss a change nor claim one that rolled
back. Once committed it is also logged (`event` = "key.<kind>"). Details hold
ids and settings only: never a key, a signature or a signed message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from gateway.keys.model import ApiKey
from gateway.logs import log_event
from gateway.timestamps import utc_timestamp

log = logging.getLogger("walletgate.audit")

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class EventKind(StrEnum):
    CREATED = "created"
    GENERATED = "generated"  # service-key dialect
    ROTATED = "rotated"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    EXPIRED = "expired"
    NEW_IP = "new_ip"  # used from an address it had not used in the last 30 days


# Who acted: the wallet itself (signed), one of its keys, a configured
# service, an operator at the CLI, or the gateway's own clock (expiry).
WALLET_ACTOR: Final = "wallet"
OPERATOR_ACTOR: Final = "operator"
SYSTEM_ACTOR: Final = "system"


def key_actor(key_id: str) -> str:
    return f"key:{key_id}"


def service_actor(name: str) -> str:
    return f"service:{name}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asks for a change and from which address (None outside HTTP)."""

    actor: str
    client_ip: str | None = None


OPERATOR: Final = Origin(OPERATOR_ACTOR)


@dataclass(frozen=True, slots=True)
class KeyEvent:
    kind: EventKind
    key_id: str
    at: datetime
    actor: str
    client_ip: str | None = None
    # Filled by the store from the key's row when the caller does not know it.
    wallet: str = ""
    details: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    seq: int = 0  # the store's order; 0 until stored

    def for_wallet(self, wallet: str) -> KeyEvent:
        return replace(self, wallet=wallet)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.kind.value,
            "at": utc_timestamp(self.at),
            "keyId": self.key_id,
            "wallet": self.wallet,
            "actor": self.actor,
            "clientIp": self.client_ip,
            "details": dict(self.details),
        }


def new_event(
    kind: EventKind,
    key_id: str,
    at: datetime,
    origin: Origin,
    details: Mapping[str, Any] | None = None,
    wallet: str = "",
) -> KeyEvent:
    return KeyEvent(
        kind=kind,
        key_id=key_id,
        at=at,
        actor=origin.actor,
        client_ip=origin.client_ip,
        wallet=wallet,
        details=MappingProxyType(dict(details or {})),
    )


def log_key_event(event: KeyEvent) -> None:
    """The committed event as a log line."""
    log_event(
        log,
        logging.INFO,
        f"key.{event.kind.value}",
        key_id=event.key_id,
        wallet=event.wallet,
        actor=event.actor,
        client_ip=event.client_ip,
        details=dict(event.details),
    )


def creation_details(key: ApiKey, extra: Mapping[str, object] | None) -> dict[str, object]:
    """What the key may do, for the trail: never the key or its hash."""
    return {
        "name": key.name,
        "dialect": key.dialect.value,
        "permissions": sorted(p.value for p in key.permissions),
        "rateLimit": key.rate_limit,
        "ipAllowlist": list(key.ip_allowlist),
        "expiresAt": None if key.expires_at is None else key.expires_at.isoformat(),
        **(extra or {}),
    }
