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

from gateway.cli.keys_operator import add_operator_parsers
from gateway.cli.parser import command_group, examples, positive_int
from gateway.config import Settings
from gateway.errors import utc_timestamp
from gateway.http.key_routes import key_json
from gateway.keys.audit import OPERATOR, KeyEvent
from gateway.keys.clients import ClientIp
from gateway.keys.history import HourlyUsage, hour_of
from gateway.keys.model import ApiKey, KeyStatus
from gateway.keys.service import KeyService
from gateway.keys.store import KeyStore, StoreError, open_store
from gateway.keys.store.existing import store_exists, store_name
from gateway.keys.token import hash_api_key

TABLE_COLUMNS = (
    "keyId",
    "name",
    "walletAddress",
    "status",
    "permissions",
    "rateLimit",
    "lastUsedAt",
)
STORE_HINT = "name the gateway's store with --config FILE or WALLETGATE_STORE__URL"


def add_keys_parser(commands: Any) -> None:
    keys = commands.add_parser(
        "keys",
        help="operator commands on the key store",
        **examples(
            """
            walletgate keys list --config /etc/walletgate.toml
            walletgate keys show KEY_ID
            walletgate keys suspend KEY_ID
            WALLETGATE_STORE__URL=sqlite:////var/lib/walletgate/walletgate.db walletgate keys list
            """
        ),
    )
    actions = command_group(keys, "keys_command")
    listing = actions.add_parser(
        "list",
        help="list keys",
        **examples("walletgate keys list --status active\nwalletgate keys list --json | jq ."),
    )
    listing.add_argument("--wallet", help="only this wallet's keys")
    listing.add_argument("--status", choices=[s.value for s in KeyStatus])
    listing.add_argument("--json", action="store_true", help="JSON, as the HTTP API names fields")
    listing.set_defaults(keys_handler=_sync(list_keys))
    show = actions.add_parser(
        "show", help="one key with its usage statistics", **examples("walletgate keys show KEY_ID")
    )
    show.add_argument("key_id", metavar="KEY_ID")
    show.add_argument("--json", action="store_true", help="JSON, as the HTTP API names fields")
    show.set_defaults(keys_handler=_sync(show_key))
    for name, status in (
        ("suspend", KeyStatus.SUSPENDED),
        ("resume", KeyStatus.ACTIVE),
        ("revoke", KeyStatus.REVOKED),
    ):
        action = actions.add_parser(
            name, help=f"{name} a key", **examples(f"walletgate keys {name} KEY_ID")
        )
        action.add_argument("key_id", metavar="KEY_ID")
        action.set_defaults(keys_handler=_sync(set_status), target_status=status)
    events = actions.add_parser(
        "events",
        help="the audit trail, newest first",
        **examples(
            "walletgate keys events KEY_ID\nwalletgate keys events --since 2026-01-01 --json"
        ),
    )
    events.add_argument(
        "key_id", metavar="KEY_ID", nargs="?", help="one key's events (default: every key)"
    )
    events.add_argument("--wallet", help="only this wallet's keys")
    events.add_argument("--since", help="only events at or after this ISO 8601 moment")
    events.add_argument("--limit", type=positive_int, default=1000)
    events.add_argument("--json", action="store_true")
    events.set_defaults(keys_handler=_sync(list_events))
    add_operator_parsers(actions, _sync)
    hashing = actions.add_parser(
        "hash",
        help="read a key from stdin, print its SHA-256",
        **examples("walletgate keys hash < service-key.txt"),
    )
    hashing.set_defaults(keys_handler=hash_key)


StoreCommand = Callable[[KeyStore, argparse.Namespace], Awaitable[int]]
KeysHandler = Callable[[Settings, argparse.Namespace], int]


def _sync(command: StoreCommand) -> KeysHandler:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        return asyncio.run(_with_store(settings, command, args))

    return run


async def _with_store(settings: Settings, command: StoreCommand, args: argparse.Namespace) -> int:
    url = settings.store.url
    name = store_name(url)
    args.settings = settings
    try:
        if not await store_exists(url):
            print(f"walletgate: no key store at {name}; {STORE_HINT}", file=sys.stderr)
            return 2
        print(f"walletgate: key store {name}", file=sys.stderr)
        store = open_store(url)
        try:
            await store.open()
            return await command(store, args)
        finally:
            await store.close()
    except StoreError as exc:
        print(f"walletgate: key store unavailable: {exc}", file=sys.stderr)
        return 1


def key_record(
    key: ApiKey,
    hourly: list[HourlyUsage] | None = None,
    clients: list[ClientIp] | None = None,
) -> dict[str, Any]:
    """A key as `GET /api/v1/api-keys/{keyId}` shows it, plus what only operators see."""
    record = key_json(key, datetime.now(UTC), hourly, clients)
    return record | {"chain": key.chain, "dialect": key.dialect.value}


def _table(records: list[dict[str, Any]]) -> str:
    rows = [list(TABLE_COLUMNS)] + [
        [
            ",".join(value) if isinstance(value := r[c], list) else _human(value)
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
    if not records and not args.json:
        print("no keys", file=sys.stderr)
        return 0
    print(json.dumps(records, indent=2) if args.json else _table(records))
    return 0


async def show_key(store: KeyStore, args: argparse.Namespace) -> int:
    key = await store.get(args.key_id)
    if key is None:
        print(f"walletgate: no key with id {args.key_id!r}", file=sys.stderr)
        return 1
    since = hour_of(datetime.now(UTC) - timedelta(days=args.settings.usage.history_days))
    hours = (await store.hourly_usage([key.id], since)).get(key.id, [])
    clients = (await store.client_ips([key.id])).get(key.id, [])
    record = key_record(key, hours, clients)
    print(json.dumps(record, indent=2) if args.json else "\n".join(show_lines(record)))
    return 0


def show_lines(record: dict[str, Any]) -> list[str]:
    """`keys show` for people: no JSON, no None; usage as counts, history as hours."""
    lines = []
    for name, value in record.items():
        if name in ("id", "usageStats", "clientIps"):
            continue
        lines.append(f"{name:15} {_human(value)}")
    usage = dict(record["usageStats"])
    hourly = usage.pop("hourly", [])
    lines.append("usageStats")
    lines.extend(f"  {name:20} {value}" for name, value in usage.items())
    lines.append("usage by hour" + ("" if hourly else "  -"))
    for hour in hourly:
        counts = ", ".join(f"{k} {v}" for k, v in hour.items() if k != "hour" and v)
        lines.append(f"  {hour.get('hour', '?')}  {counts or '-'}")
    clients = record.get("clientIps", [])
    lines.append("client addresses" + ("" if clients else "  -"))
    lines.extend(
        f"  {c['ip']}  requests {c['requests']}, first {c['firstSeen']}, last {c['lastSeen']}"
        for c in clients
    )
    return lines


def _human(value: Any) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


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
        limit=args.limit,
    )
    if args.json:
        print(json.dumps([e.to_json() for e in events], indent=2))
    else:
        for event in events:
            print(_event_line(event))
    return 0


def _event_line(event: KeyEvent) -> str:
    # name=value pairs, as the text log lines write them; --json has the structure.
    pairs = sorted(dict(event.details).items())
    details = " ".join(f"{name}={_human(value)}" for name, value in pairs) or "-"
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
