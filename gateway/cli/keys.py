"""`walletgate keys ...`: operator commands that act on the store directly.

No signature is needed: whoever can read the configuration owns the store.
A running gateway sees a suspension or revocation made here within
`keys.invalidation_interval_s` through the store's change log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.auth.authorise import permission_list
from gateway.config import Settings
from gateway.errors import utc_timestamp
from gateway.keys.audit import OPERATOR, KeyEvent
from gateway.keys.history import hour_of
from gateway.keys.model import ApiKey, KeyStatus
from gateway.keys.service import KeyService
from gateway.keys.store import KeyStore, StoreError, open_store
from gateway.keys.token import hash_api_key

TABLE_COLUMNS = ("id", "name", "wallet", "status", "permissions", "rateLimit", "lastUsedAt")


def add_keys_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="operator commands on the key store")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    listing = actions.add_parser("list", help="list keys")
    listing.add_argument("--wallet")
    listing.add_argument("--status", choices=[s.value for s in KeyStatus])
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(keys_handler=_sync(list_keys))
    show = actions.add_parser("show", help="one key with its usage statistics")
    show.add_argument("key_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(keys_handler=_sync(show_key))
    for name, status in (
        ("suspend", KeyStatus.SUSPENDED),
        ("resume", KeyStatus.ACTIVE),
        ("revoke", KeyStatus.REVOKED),
    ):
        action = actions.add_parser(name, help=f"{name} a key")
        action.add_argument("key_id")
        action.set_defaults(keys_handler=_sync(set_status), target_status=status)
    events = actions.add_parser("events", help="the audit trail, newest first")
    events.add_argument("key_id", nargs="?", help="one key's events (default: every key)")
    events.add_argument("--wallet", help="only this wallet's keys")
    events.add_argument("--since", help="only events at or after this ISO 8601 moment")
    events.add_argument("--limit", type=int, default=1000)
    events.add_argument("--json", action="store_true")
    events.set_defaults(keys_handler=_sync(list_events))
    hashing = actions.add_parser("hash", help="read a key from stdin, print its SHA-256")
    hashing.set_defaults(keys_handler=hash_key)


StoreCommand = Callable[[KeyStore, argparse.Namespace], Awaitable[int]]
KeysHandler = Callable[[Settings, argparse.Namespace], int]


def _sync(command: StoreCommand) -> KeysHandler:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        return asyncio.run(_with_store(settings, command, args))

    return run


async def _with_store(settings: Settings, command: StoreCommand, args: argparse.Namespace) -> int:
    store = open_store(settings.store.url)
    args.settings = settings
    try:
        await store.open()
        return await command(store, args)
    except StoreError as exc:
        print(f"walletgate: key store unavailable: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()


def key_record(key: ApiKey) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": key.id,
        "name": key.name,
        "wallet": key.wallet_display,
        "chain": key.chain,
        "dialect": key.dialect.value,
        "status": key.effective_status(now).value,
        "permissions": permission_list(key.permissions),
        "rateLimit": key.rate_limit,
        "createdAt": utc_timestamp(key.created_at),
        "lastUsedAt": utc_timestamp(key.last_used_at) if key.last_used_at else None,
        "expiresAt": utc_timestamp(key.expires_at) if key.expires_at else None,
        "ipAllowlist": list(key.ip_allowlist),
        "keyHint": key.key_hint,
        "usageStats": key.usage.to_json(),
    }


def _table(records: list[dict[str, Any]]) -> str:
    rows = [list(TABLE_COLUMNS)] + [
        [
            ",".join(value) if isinstance(value := r[c], list) else str(value or "-")
            for c in TABLE_COLUMNS
        ]
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def list_keys(store: KeyStore, args: argparse.Namespace) -> int:
    status = KeyStatus(args.status) if args.status else None
    wallet = _canonical(args.wallet) if args.wallet else None
    records = [key_record(k) for k in await store.list_keys(wallet=wallet, status=status)]
    print(json.dumps(records, indent=2) if args.json else _table(records))
    return 0


async def show_key(store: KeyStore, args: argparse.Namespace) -> int:
    key = await store.get(args.key_id)
    if key is None:
        print(f"walletgate: no key with id {args.key_id!r}", file=sys.stderr)
        return 1
    record = key_record(key)
    since = hour_of(datetime.now(UTC) - timedelta(days=args.settings.usage.history_days))
    hours = (await store.hourly_usage([key.id], since)).get(key.id, [])
    record["usageStats"]["hourly"] = [h.to_json() for h in hours]
    clients = (await store.client_ips([key.id])).get(key.id, [])
    record["clientIps"] = [c.to_json() for c in clients]
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        for name, value in record.items():
            print(f"{name:12} {json.dumps(value) if isinstance(value, (list, dict)) else value}")
    return 0


async def set_status(store: KeyStore, args: argparse.Namespace) -> int:
    # Through the service, so the change and its audit event share one transaction.
    service = KeyService(store, args.settings.keys)
    key = await service.set_status(args.key_id, args.target_status, OPERATOR)
    if key is None:
        print(f"walletgate: no key with id {args.key_id!r}", file=sys.stderr)
        return 1
    if key.status != args.target_status:
        print(f"walletgate: key {key.id} is revoked; revocation is final", file=sys.stderr)
        return 1
    print(f"key {key.id} ({key.name}) is now {key.status.value}")
    return 0


async def list_events(store: KeyStore, args: argparse.Namespace) -> int:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            print(
                f"walletgate: --since {args.since!r}: expected an ISO 8601 moment", file=sys.stderr
            )
            return 2
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    events = await store.list_events(
        key_id=args.key_id,
        wallet=_canonical(args.wallet) if args.wallet else None,
        since=since,
        limit=max(1, args.limit),
    )
    if args.json:
        print(json.dumps([e.to_json() for e in events], indent=2))
    else:
        for event in events:
            print(_event_line(event))
    return 0


def _event_line(event: KeyEvent) -> str:
    details = json.dumps(dict(event.details), separators=(",", ":"), sort_keys=True)
    return (
        f"{utc_timestamp(event.at)}  {event.kind.value:9}  {event.key_id}  {event.wallet}  "
        f"{event.actor}  {event.client_ip or '-'}  {details}"
    )


def hash_key(settings: Settings, args: argparse.Namespace) -> int:
    plaintext = sys.stdin.readline().strip()
    if not plaintext:
        print("walletgate: no key on stdin", file=sys.stderr)
        return 1
    print(hash_api_key(plaintext))
    return 0


def _canonical(wallet: str) -> str:
    from gateway.wallets import parse_wallet_address

    return parse_wallet_address(wallet).canonical
