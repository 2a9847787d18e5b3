"""PostgreSQL: client addresses per key, written inside the usage flush's transaction.

Several gateway processes flush into one database, so the flush takes one
transaction-scoped advisory lock before reading what is known of each
address: two processes that saw the same new address wait for each other,
and the second sees the first one's row, so the `new_ip` event is stored once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import asyncpg

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
from gateway.keys.store.postgres_trail import LOCK_GLOBAL, decode_moment

_OBJ_CLIENTS: Final = 3
_SELECT_KNOWN: Final = f"""
    SELECT {", ".join(f"c.{n}" for n in CLIENT_COLUMNS)} FROM key_client_ips c
    JOIN unnest($1::text[], $2::text[]) AS b(key_id, ip) ON c.key_id = b.key_id AND c.ip = b.ip"""
_UPSERT: Final = (
    f"INSERT INTO key_client_ips ({', '.join(CLIENT_COLUMNS)}) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (key_id, ip) DO UPDATE SET first_seen = excluded.first_seen, "
    "last_seen = excluded.last_seen, requests = excluded.requests"
)
_INSERT_EVENT: Final = (
    f"INSERT INTO key_events ({', '.join(EVENT_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(EVENT_INSERT_COLUMNS) + 1))})"
)
_PRUNE: Final = prune_query("$1", "$2", "$3", "$4")


async def write_clients(
    conn: asyncpg.Connection, batch: Mapping[ClientKey, ClientIp]
) -> list[KeyEvent]:
    """Count the batch onto the stored addresses; store and return the `new_ip` events."""
    if not batch:
        return []
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_GLOBAL, _OBJ_CLIENTS)
    slots = sorted(batch)
    found = await conn.fetch(_SELECT_KNOWN, [k for k, _ in slots], [ip for _, ip in slots])
    known = {(r["key_id"], r["ip"]): client_from_row(r, decode_moment) for r in found}
    key_ids = sorted({key_id for key_id, _ in slots})
    wallet_rows = await conn.fetch("SELECT id, wallet FROM api_keys WHERE id = ANY($1)", key_ids)
    wallets = {row["id"]: row["wallet"] for row in wallet_rows}
    rows, events = plan_clients(batch, known, wallets)
    await conn.executemany(
        _UPSERT, [(k, c.ip, c.first_seen, c.last_seen, c.requests) for k, c in rows]
    )
    if events:
        await conn.executemany(_INSERT_EVENT, [event_values(e, _same) for e in events])
    cutoff = prune_cutoff(batch.values())
    shown, kept = PRUNE_LIMITS
    grown = [k for k in grown_keys(batch, known) if k in wallets]
    await conn.executemany(_PRUNE, [(k, cutoff, shown, kept) for k in grown])
    return events


def _same(moment: object) -> object:
    return moment


async def read_clients(
    conn: asyncpg.Connection, key_ids: Sequence[str]
) -> dict[str, list[ClientIp]]:
    if not key_ids:
        return {}
    query = recent_clients_query("SELECT unnest($1::text[])", "$2")
    rows = await conn.fetch(query, list(key_ids), SHOWN_CLIENT_IPS)
    result: dict[str, list[ClientIp]] = {}
    for row in rows:
        result.setdefault(row["key_id"], []).append(client_from_row(row, decode_moment))
    return result
