"""The replay guard: each signed message is accepted once per signing key.

An entry is keyed by what was signed (signer's public key + message), never
by signature bytes, so a malleated `(r, n-s)` twin or a re-signed copy
of a used message is the same entry. Entries live for the age window; after
that the timestamp check refuses the message anyway.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from redis.exceptions import RedisClusterException, RedisError

from gateway.wallets.errors import ReplayCacheFull, ReplayGuardUnavailable

if TYPE_CHECKING:
    import redis.asyncio

    from gateway.wallets.address import WalletAddress


class ReplayGuard(Protocol):
    async def first_use(self, key: bytes, ttl_s: float) -> bool:
        """True the first time `key` is seen within `ttl_s`; False on any later use."""
        ...

    async def close(self) -> None: ...


def replay_key(wallet: WalletAddress, message: str) -> bytes:
    """sha256(address_lowercase || 0x00 || message_utf8)."""
    return replay_key_of_bytes(wallet, message.encode("utf-8"))


def replay_key_of_bytes(wallet: WalletAddress, message_utf8: bytes) -> bytes:
    """`replay_key` for a message the caller has already encoded."""
    data = wallet.canonical.lower().encode("ascii") + b"\x00" + message_utf8
    return hashlib.sha256(data).digest()


def replay_key_of_signer(public_key: bytes, message_utf8: bytes) -> bytes:
    """An entry keyed by the recovering public key (33 bytes, compressed), not the
    address: a Stacks key signs for four addresses (mainnet/testnet x key form),
    and a message it signed is accepted once, whichever of them it names."""
    return hashlib.sha256(b"key\x00" + public_key + b"\x00" + message_utf8).digest()


def order_replay_key(scheme: str, owner: WalletAddress, uuid: str) -> bytes:
    """One signed order per (scheme, owner, uuid): the uuid is signed, the
    signature bytes are not an identity (a malleated twin is the same order)."""
    data = b"\x00".join((b"order", scheme.encode("utf-8"), owner.canonical.lower().encode("ascii")))
    return hashlib.sha256(data + b"\x00" + uuid.encode("utf-8", "surrogatepass")).digest()


# The client a replay entry is made for: its IPv4 address or IPv6 /48, set by
# the HTTP layer for each request. A context variable, so the verifiers between
# the two need not carry a client they otherwise have no use for; "" (no
# request, as in tests of the verifiers alone) is nobody's share.
REPLAY_CLIENT: ContextVar[str] = ContextVar("walletgate_replay_client", default="")
# Once the in-process set is this full, a client holding `1 / CLIENT_SHARE`
# of it or more is refused: no client, however many keys, wallets or /64s it
# brings, takes more than half, and what is left takes many clients to fill.
PRESSURE = 0.5
CLIENT_SHARE = 16


class MemoryReplayGuard:
    """In-process set with expiry, bounded to `maxsize` entries.

    It never evicts a live entry to make room: forgetting one would let that
    message be replayed. When full of live entries it refuses (`ReplayCacheFull`)
    instead; once half full, it refuses a client (`REPLAY_CLIENT`) that holds a
    sixteenth of it, so one client cannot fill it and refuse everyone else.
    """

    def __init__(self, maxsize: int = 500_000, clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._maxsize = maxsize
        self._pressure = maxsize * PRESSURE
        self._share = maxsize / CLIENT_SHARE
        self._clock = clock
        # key -> (expiry, client). Insertion order is expiry order while every
        # ttl is the same, so expired entries are found at the front.
        self._expiry: dict[bytes, tuple[float, str]] = {}
        self._held: Counter[str] = Counter()  # live entries per client
        # No expired entry can exist before this moment (set by the last full sweep).
        self._next_sweep_at = -math.inf

    def __len__(self) -> int:
        return len(self._expiry)

    async def first_use(self, key: bytes, ttl_s: float) -> bool:
        now = self._clock()
        entry = self._expiry.get(key)
        if entry is not None:
            if entry[0] > now:
                return False
            self._forget(key, entry[1])
        if len(self._expiry) >= self._maxsize:
            self._make_room(now)
        client = REPLAY_CLIENT.get()
        if client and len(self._expiry) >= self._pressure and self._held[client] >= self._share:
            self._drop_expired_front(now)
            if len(self._expiry) >= self._pressure and self._held[client] >= self._share:
                raise ReplayCacheFull("this client holds its share of the replay cache")
        self._expiry[key] = (now + ttl_s, client)
        self._held[client] += 1
        return True

    def _forget(self, key: bytes, client: str) -> None:
        del self._expiry[key]
        self._held[client] -= 1
        if not self._held[client]:
            del self._held[client]

    def _make_room(self, now: float) -> None:
        self._drop_expired_front(now)
        if len(self._expiry) >= self._maxsize and now >= self._next_sweep_at:
            self._sweep(now)
        if len(self._expiry) >= self._maxsize:
            raise ReplayCacheFull("replay cache full of live entries")

    def _drop_expired_front(self, now: float) -> None:
        while self._expiry:
            key, (expiry, client) = next(iter(self._expiry.items()))
            if expiry > now:
                return
            self._forget(key, client)

    def _sweep(self, now: float) -> None:
        # Mixed ttls leave expired entries behind live ones; a full pass finds
        # them, and remembers when the earliest survivor expires so a cache
        # full of live entries is not rescanned on every request.
        self._expiry = {key: entry for key, entry in self._expiry.items() if entry[0] > now}
        self._held = Counter(client for _, client in self._expiry.values())
        self._next_sweep_at = min((entry[0] for entry in self._expiry.values()), default=now)

    async def close(self) -> None:
        self._expiry.clear()
        self._held.clear()


class RedisReplayGuard:
    """Shared across gateway processes: `SET key 1 NX EX ttl` is the atomic first use.

    Each key carries its own hash tag, so entries spread over a Redis Cluster.
    A Redis failure refuses the request (`ReplayGuardUnavailable`): admitting it
    could admit a replay.
    """

    def __init__(
        self,
        redis: redis.asyncio.Redis | redis.asyncio.RedisCluster,
        prefix: str,
        *,
        owns_client: bool = False,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._owns_client = owns_client

    def redis_key(self, key: bytes) -> str:
        return f"{self._prefix}replay:{{{key.hex()}}}"

    async def first_use(self, key: bytes, ttl_s: float) -> bool:
        try:
            created = await self._redis.set(
                self.redis_key(key), b"1", nx=True, ex=max(1, math.ceil(ttl_s))
            )
        except (RedisError, RedisClusterException, OSError):
            raise ReplayGuardUnavailable("replay store unreachable") from None
        return bool(created)

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()
