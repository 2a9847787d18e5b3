"""SQLite: client addresses per key, written inside the usage flush's transaction.

The flush runs under `BEGIN IMMEDIATE`, SQLite's one write lock: reading what
is known of each address and writing the new counts cannot interleave with
another process's flush, so each new run of an address is noticed once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import aiosqlite

from gateway.keys.audit import KeyEvent
from gateway.keys.clients import SHOWN_CLIENT_IPS, ClientIp, ClientKey
from gateway.keys.store.clients import (
    CLIENT_COLUMNS,
    PRUNE_LIMITS,
    client_from_row,
    grown_keys,
    plan_clients,
    prune_cutoff,
    prune_query,
    recent_clients_query,
)
from gateway.keys.store.events import EVENT_INSERT_COLUMNS, event_values
from gateway.keys.store.sqlite_trail import decode_time, moment_text

# Known addresses are read a chunk of (key, address) pairs per query, not one
# query (one thread hop) per pair; SQLite allows 32766 variables.
_PAIRS_PER_QUERY: Final = 500
_UPSERT: Final = (
    f"INSERT INTO key_client_ips ({', '.join(CLIENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key_id, ip) DO UPDATE SET first_seen = excluded.first_seen, "
    "last_seen = excluded.last_seen, requests = excluded.requests"
)
_INSERT_EVENT: Final = (
    f"INSERT INTO key_events ({', '.join(EVENT_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_INSERT_COLUMNS)})"
)
_PRUNE: Final = prune_query(":key", ":cutoff", ":shown", ":kept")


async def write_clients(
    db: aiosqlite.Connection, batch: Mapping[ClientKey, ClientIp]
) -> list[KeyEvent]:
    """Count the batch onto the stored addresses; store and return the `new_ip` events."""
    if not batch:
        return []
    known = await _known(db, sorted(batch))
    key_ids = sorted({key_id for key_id, _ in batch})
    marks = ", ".join("?" for _ in key_ids)
    wallet_rows = await db.execute_fetchall(
        f"SELECT id, wallet FROM api_keys WHERE id IN ({marks})", key_ids
    )
    wallets = {row[0]: row[1] for row in wallet_rows}
    rows, events = plan_clients(batch, known, wallets)
    await db.executemany(
        _UPSERT,
        [
            (k, c.ip, moment_text(c.first_seen), moment_text(c.last_seen), c.requests)
            for k, c in rows
        ],
    )
    await db.executemany(_INSERT_EVENT, [event_values(e, moment_text) for e in events])
    cutoff = moment_text(prune_cutoff(batch.values()))
    shown, kept = PRUNE_LIMITS
    grown = [k for k in grown_keys(batch, known) if k in wallets]
    await db.executemany(
        _PRUNE, [{"key": k, "cutoff": cutoff, "shown": shown, "kept": kept} for k in grown]
    )
    return events


async def _known(db: aiosqlite.Connection, slots: Sequence[ClientKey]) -> dict[ClientKey, ClientIp]:
    """What the store holds of each (key, address) pair."""
    known: dict[ClientKey, ClientIp] = {}
    for start in range(0, len(slots), _PAIRS_PER_QUERY):
        chunk = slots[start : start + _PAIRS_PER_QUERY]
        pairs = ", ".join("(?, ?)" for _ in chunk)
        query = (
            f"SELECT {', '.join(CLIENT_COLUMNS)} FROM key_client_ips "
            f"WHERE (key_id, ip) IN (VALUES {pairs})"
        )
        rows = await db.execute_fetchall(query, [part for slot in chunk for part in slot])
        for row in rows:
            found = client_from_row(row, decode_time)
            known[(row["key_id"], found.ip)] = found
    return known


async def read_clients(
    db: aiosqlite.Connection, key_ids: Sequence[str]
) -> dict[str, list[ClientIp]]:
    if not key_ids:
        return {}
    query = recent_clients_query(", ".join("?" for _ in key_ids), "?")
    rows = await db.execute_fetchall(query, (*key_ids, SHOWN_CLIENT_IPS))
    result: dict[str, list[ClientIp]] = {}
    for row in rows:
        result.setdefault(row["key_id"], []).append(client_from_row(row, decode_time))
    return result
