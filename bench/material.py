"""What the load benchmark feeds the gateway: its config, keys, signed messages, a big key store.

Keys for the measured runs are created through the real signed endpoint.
Signed messages are distinct (a `nonce` field) because the gateway refuses
a replayed one; they are made in worker processes, one line per request.
The 1,000,000-key store is written straight into the store's own schema.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from gateway.keys.model import ApiKey, Dialect, KeyStatus, Permission
from gateway.keys.store.base import KEY_COLUMNS, key_values
from gateway.keys.store.sqlite import SQLiteKeyStore, encode_time
from gateway.keys.token import generate_api_key, generate_key_id, hash_api_key, key_hint
from gateway.wallets import WalletAddress, parse_wallet_address
from gateway.wallets.signing import StacksSigner, signed_body, signed_headers

# A fixed bench wallet: the upstream reports it as the owner of every order.
BENCH_PRIVATE_KEY = "5b" * 32 + "01"
ORDER_UUID = "3f1c9a52-bench-4e0b-9d2c-000000000001"
EXECUTE_PATH = f"/api/v1/orders/{ORDER_UUID}/execute"
CREATE_KEY_PATH = "/api/v1/api-keys"
HUGE = 1_000_000_000
SIGNED_HEADER_NAMES = ("X-Message", "X-Signature", "X-Wallet-Address")


def bench_signer() -> StacksSigner:
    return StacksSigner(BENCH_PRIVATE_KEY)


def gateway_config(path: Path, store_url: str, redis_url: str = "", redis_prefix: str = "") -> Path:
    """Limits far above any bench rate (limits are measured, never hit); long signature age,
    because signed messages are made before the runs that use them."""
    redis = f'[redis]\nurl = "{redis_url}"\nprefix = "{redis_prefix}"\n' if redis_url else ""
    path.write_text(
        f'[store]\nurl = "{store_url}"\n'
        f"{redis}"
        "[rate_limits]\n"
        + "".join(
            f"{name} = {HUGE}\n"
            for name in (
                "per_minute",
                "per_hour",
                "per_day",
                "public_per_minute",
                "management_per_minute",
                "management_per_hour",
                "ip_signed_per_minute",
                "ip_key_creation_per_minute",
                "ip_key_creation_per_hour",
            )
        )
        + "[signatures]\nmax_age_s = 3600\n"
        # Figure 5 creates thousands of keys for one wallet: no cap on active keys.
        + f"[keys]\nmax_active_per_wallet = {HUGE}\n"
    )
    return path


async def create_key_via_api(gateway_url: str, name: str = "bench") -> str:
    """A key made as a wallet makes one: a signed `create_api_key` message; its plaintext."""
    body = signed_body(
        bench_signer(), "create_api_key", {"keyName": name, "permissions": ["execute", "cancel"]}
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway_url + CREATE_KEY_PATH, json=body) as answer,
    ):
        created = await answer.json()
        if answer.status != 201:
            raise RuntimeError(f"key creation failed: {answer.status} {created}")
    return str(created["apiKey"])


# -- signed messages, made in parallel ------------------------------------------------


def _execute_lines(first: int, count: int) -> list[str]:
    signer = bench_signer()
    lines = []
    for nonce in range(first, first + count):
        headers = signed_headers(signer, "execute_order", {"uuid": ORDER_UUID, "nonce": nonce})
        lines.append("\t".join(headers[name] for name in SIGNED_HEADER_NAMES))
    return lines


def _create_key_lines(first: int, count: int) -> list[str]:
    # One wallet per key, as many owners creating keys: a wallet holds at most
    # `keys.max_active_per_wallet` keys, and counting them is part of each creation.
    return [
        json.dumps(
            signed_body(
                StacksSigner(f"{n + 1:064x}01"), "create_api_key", {"keyName": f"bench-{n}"}
            )
        )
        for n in range(first, first + count)
    ]


async def _write_lines(path: Path, kind: str, first: int, count: int, workers: int) -> Path:
    make = _execute_lines if kind == "execute" else _create_key_lines
    chunk = max(1, -(-count // (workers * 4)))
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(pool, make, start, min(chunk, first + count - start))
                for start in range(first, first + count, chunk)
            )
        )
    text = "".join(line + "\n" for part in parts for line in part)
    await asyncio.to_thread(path.write_text, text)
    return path


async def signed_execute_file(path: Path, first: int, count: int, workers: int) -> Path:
    """`count` distinct signed `execute_order` header sets, tab-separated, one per line."""
    return await _write_lines(path, "execute", first, count, workers)


async def create_key_file(path: Path, first: int, count: int, workers: int) -> Path:
    """`count` distinct signed `create_api_key` JSON bodies, one per line."""
    return await _write_lines(path, "create", first, count, workers)


# -- a store of 1,000,000 keys ------------------------------------------------------------


def _hot_key(plaintext: str, wallet: WalletAddress, now: datetime) -> tuple[object, ...]:
    key = ApiKey(
        id=generate_key_id(),
        key_hash=hash_api_key(plaintext),
        key_hint=key_hint(plaintext),
        wallet=wallet.canonical,
        wallet_display=wallet.display,
        chain="stacks",
        dialect=Dialect.V1,
        name="hot",
        permissions=frozenset({Permission.EXECUTE, Permission.CANCEL}),
        status=KeyStatus.ACTIVE,
        rate_limit=HUGE,
        created_at=now,
    )
    return key_values(key, encode_time)


def _filler_rows(template: Sequence[object], first: int, count: int) -> list[tuple[object, ...]]:
    """Rows that differ from `template` in id, hash, hint and wallet: never asked for."""
    position = {name: i for i, name in enumerate(KEY_COLUMNS)}
    rows = []
    for n in range(first, first + count):
        row = list(template)
        row[position["id"]] = f"key_f{n:015x}"
        row[position["key_hash"]] = hashlib.sha256(f"filler-{n}".encode()).hexdigest()
        row[position["key_hint"]] = f"ck_live_fill…{n % 10_000:04d}"
        row[position["wallet"]] = row[position["wallet_display"]] = f"filler-wallet-{n % 50_000}"
        rows.append(tuple(row))
    return rows


async def build_key_store(path: Path, hot: int, filler: int) -> list[str]:
    """A SQLite store with `hot + filler` keys; returns the hot keys' plaintexts."""
    store = SQLiteKeyStore(str(path))
    await store.open()  # creates the schema exactly as the gateway does
    await store.close()
    wallet = parse_wallet_address(bench_signer().address)
    now = datetime.now(UTC).replace(microsecond=0)
    plaintexts = [generate_api_key("ck_live_") for _ in range(hot)]
    hot_rows = [_hot_key(p, wallet, now) for p in plaintexts]
    placeholders = ", ".join("?" for _ in KEY_COLUMNS)
    insert = f"INSERT INTO api_keys ({', '.join(KEY_COLUMNS)}) VALUES ({placeholders})"
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("BEGIN")
        db.executemany(insert, hot_rows)
        for start in range(0, filler, 100_000):
            db.executemany(insert, _filler_rows(hot_rows[0], start, min(100_000, filler - start)))
        db.execute("COMMIT")
    db.close()
    return plaintexts
