"""`walletgate keys tier` and `walletgate keys limits`: what the operator API's
writes do, from a shell on the store host (same path: `gateway.keys.operator`,
the audit event with actor `operator`, the change log for running gateways)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from gateway.cli.parser import examples
from gateway.config import Settings
from gateway.keys.audit import OPERATOR
from gateway.keys.operator import KeyAdmin, KeyChange, KeyRevoked
from gateway.keys.service import KeyService
from gateway.keys.store import KeyStore
from gateway.wallets import parse_wallet_address
from gateway.wallets.errors import InvalidWalletAddress

StoreCommand = Callable[[KeyStore, argparse.Namespace], Awaitable[int]]


def add_operator_parsers(actions: Any, sync: Callable[[StoreCommand], Any]) -> None:
    tier = actions.add_parser(
        "tier",
        help="show or set a wallet's rate-limit tier",
        **examples(
            "walletgate keys tier SP3JXHVKQEEFMSC7789MYGGV6PF0DVVY3EKMGGCM3\n"
            "walletgate keys tier 0x2c7536e3605d9c16a7a3d7b1898e529396a65c23 market_maker\n"
            "walletgate keys tier 0x2c7536e3605d9c16a7a3d7b1898e529396a65c23 --clear"
        ),
    )
    tier.add_argument("wallet")
    tier.add_argument("tier", nargs="?", help="a [tiers.NAME] of the configuration")
    tier.add_argument("--clear", action="store_true", help="take the wallet out of its tier")
    tier.set_defaults(keys_handler=sync(set_tier))
    limits = actions.add_parser(
        "limits",
        help="change a key's rate limit or expiry",
        **examples(
            "walletgate keys limits KEY_ID --rate-limit 20 --reason 'abuse report'\n"
            "walletgate keys limits KEY_ID --expires-at 2027-01-01T00:00:00Z\n"
            "walletgate keys limits KEY_ID --no-expiry"
        ),
    )
    limits.add_argument("key_id")
    limits.add_argument("--rate-limit", type=int, help="requests per minute")
    expiry = limits.add_mutually_exclusive_group()
    expiry.add_argument("--expires-at", help="ISO 8601 moment (UTC when it has no offset)")
    expiry.add_argument("--no-expiry", action="store_true", help="remove the expiry")
    limits.add_argument("--reason", help="recorded in the audit event")
    limits.set_defaults(keys_handler=sync(set_limits))


def _fail(message: str, code: int = 2) -> int:
    print(f"walletgate: {message}", file=sys.stderr)
    return code


async def set_tier(store: KeyStore, args: argparse.Namespace) -> int:
    """Show the wallet's tier, or place it in one (`--clear`: in none), as the API does."""
    settings: Settings = args.settings
    try:
        wallet = parse_wallet_address(args.wallet).canonical
    except InvalidWalletAddress as exc:
        return _fail(f"{args.wallet!r} is not a wallet address: {exc.reason}")
    if args.tier is None and not args.clear:
        print((await store.wallet_tiers()).get(wallet) or "-")
        return 0
    if args.tier is not None and (args.clear or settings.tier(args.tier) is None):
        known = ", ".join(t.name for t in settings.tiers) or "none configured"
        return _fail(f"unknown tier {args.tier!r} (tiers: {known})")
    admin = KeyAdmin(KeyService(store, settings.keys))
    previous = await admin.set_tier(wallet, args.tier, OPERATOR)
    print(f"wallet {args.wallet}: tier {previous or '-'} -> {args.tier or '-'}")
    return 0


async def set_limits(store: KeyStore, args: argparse.Namespace) -> int:
    """Change a key's rate limit (up to its wallet's ceiling) and/or expiry."""
    settings: Settings = args.settings
    if args.rate_limit is None and args.expires_at is None and not args.no_expiry:
        return _fail("nothing to change: give --rate-limit, --expires-at or --no-expiry")
    key = await store.get(args.key_id)
    if key is None:
        return _fail(f"no key with id {args.key_id!r}", 1)
    tier = settings.tier((await store.wallet_tiers()).get(key.wallet))
    ceiling = (tier or settings.rate_limits).per_minute
    if args.rate_limit is not None and not 1 <= args.rate_limit <= ceiling:
        return _fail(f"--rate-limit must be 1 to {ceiling} (the wallet's ceiling)")
    expires_at = None
    if args.expires_at is not None:
        try:
            expires_at = datetime.fromisoformat(args.expires_at)
        except ValueError:
            return _fail(f"--expires-at {args.expires_at!r}: expected an ISO 8601 moment")
        expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
        if expires_at <= datetime.now(UTC):
            return _fail("--expires-at must be in the future")
    change = KeyChange(
        rate_limit=args.rate_limit,
        expires_at=expires_at,
        clear_expiry=args.no_expiry,
        reason=args.reason,
    )
    try:
        changed = await KeyAdmin(KeyService(store, settings.keys)).change(key, change, OPERATOR)
    except KeyRevoked:
        return _fail(f"key {key.id} is revoked; revocation is final", 1)
    expiry = changed.expires_at.isoformat() if changed.expires_at else "none"
    print(f"key {changed.id} ({changed.name}): rateLimit {changed.rate_limit}, expiresAt {expiry}")
    return 0
