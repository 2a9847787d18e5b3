"""OwnerResolver: who owns an order, learned from the upstream and cached.

Owners never change, so an answer is kept (bounded LRU) and orders created
through the gateway are primed from the upstream's 201 answer (never from the
request body): executing them later costs no extra upstream call. An owner,
once known, is never replaced by a different one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from gateway.errors import ApiError, ErrorCode
from gateway.lru import LruCache
from gateway.upstream.connection import UpstreamUnavailable
from gateway.upstream.forwarder import Forwarder

log = logging.getLogger(__name__)

ORDER_PATH = "/api/v1/orders/{uuid}"


def dig(document: Any, dotted: str) -> Any:
    """Follow a dotted path ("data.owner") through nested objects."""
    for part in dotted.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


class OwnerResolver:
    def __init__(
        self,
        forwarder: Forwarder,
        *,
        owner_field: str,
        cache_size: int,
        on_lookup: Callable[[], None] | None = None,
    ) -> None:
        self._forwarder = forwarder
        self._owner_field = owner_field
        self._owners: LruCache[str, str] = LruCache(cache_size)
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._on_lookup = on_lookup

    def prime(self, uuid: str, owner: str) -> None:
        self._remember(uuid, owner)

    def _remember(self, uuid: str, owner: str) -> str:
        """Keep the first owner learned for `uuid`: owners never change, so a
        different later claim (a duplicate uuid the upstream accepted) is
        never believed over it. Returns the owner kept."""
        known = self._owners.get(uuid)
        if known is not None:
            if known != owner:
                log.warning("upstream named a second owner for one order; keeping the first")
            return known
        self._owners[uuid] = owner
        return owner

    def prime_from_reply(self, body: Any) -> None:
        """Learn an owner from an order-creation answer ({data: {uuid, owner}})."""
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict):
            uuid, owner = data.get("uuid"), data.get("owner")
            if isinstance(uuid, str) and isinstance(owner, str):
                self.prime(uuid, owner)

    def known_owner(self, uuid: str) -> str | None:
        """The owner of `uuid` if it is cached: answered without a coroutine."""
        return self._owners.get(uuid)

    async def owner_of(self, uuid: str, request_id: str) -> str:
        """The owner as the upstream spells it; 404 ORDER_NOT_FOUND if unknown."""
        owner = self._owners.get(uuid)
        if owner is not None:
            return owner
        # Concurrent lookups of one order share a single upstream call.
        pending = self._pending.get(uuid)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[uuid] = future
        try:
            owner = await self._lookup(uuid, request_id)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            # Mark the exception retrieved: there may be no waiter to do it.
            future.exception()
            raise
        finally:
            del self._pending[uuid]
        owner = self._remember(uuid, owner)
        future.set_result(owner)
        return owner

    async def _lookup(self, uuid: str, request_id: str) -> str:
        if self._on_lookup is not None:
            self._on_lookup()
        path = ORDER_PATH.format(uuid=quote(uuid, safe=""))
        reply = await self._forwarder.get_json(path, [("X-Request-ID", request_id)])
        if reply.status == 404:
            raise ApiError(ErrorCode.ORDER_NOT_FOUND, "Order not found", {"orderUuid": uuid})
        owner = dig(reply.body, self._owner_field) if reply.status == 200 else None
        if not isinstance(owner, str) or not owner:
            raise UpstreamUnavailable("the upstream answered no owner for the order")
        return owner
