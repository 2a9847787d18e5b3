"""Order ownership comes only from the upstream, and a known owner never changes.

A tiny real upstream plays the exchanges the gateway must survive: one that
assigns its own order ids (ignoring the uuid in the request), and one that
accepts a duplicate uuid and echoes the request back in its 201.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.wallets.signing import StacksSigner, signed_headers
from tests.conftest import RunningGateway, now_ms, signed_order
from tests.support.key_api import Reply, call, mid_minute_clock, tick


@dataclass
class SloppyExchange:
    """`own_ids`: the exchange names orders itself. Otherwise it keeps the first
    owner of a uuid but answers a duplicate with whatever the request said."""

    own_ids: bool
    owners: dict[str, str] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def create(self, request: web.Request) -> web.Response:
        order = await request.json()
        uuid = f"srv-{next(self.ids)}" if self.own_ids else order["uuid"]
        self.owners.setdefault(uuid, order["owner"])
        owner = self.owners[uuid] if self.own_ids else order["owner"]
        return web.json_response({"data": {"uuid": uuid, "owner": owner}}, status=201)

    async def get(self, request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"]
        if uuid not in self.owners:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"data": {"uuid": uuid, "owner": self.owners[uuid]}})

    async def execute(self, request: web.Request) -> web.Response:
        self.executed.append(request.match_info["uuid"])
        return web.json_response({"status": "success"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/orders/new", self.create)
        app.router.add_get("/api/v1/orders/{uuid}", self.get)
        app.router.add_post("/api/v1/orders/{uuid}/execute", self.execute)
        return app


@pytest.fixture(params=[True, False], ids=["own-ids", "duplicate-uuids"])
async def exchange(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SloppyExchange, str]]:
    sloppy = SloppyExchange(own_ids=request.param)
    server = TestServer(sloppy.app(), host="127.0.0.1", port=0)
    await server.start_server()
    yield sloppy, str(server.make_url("")).rstrip("/")
    await server.close()


async def post_order(gw: RunningGateway, signer: StacksSigner, uuid: str) -> Reply:
    return await call(gw, "POST", "/api/v1/orders/new", json=signed_order(signer, uuid=uuid))


async def signed_execute(gw: RunningGateway, signer: StacksSigner, uuid: str) -> Reply:
    tick(gw)
    headers = signed_headers(signer, "execute_order", {"uuid": uuid}, now_ms=now_ms(gw))
    return await call(gw, "POST", f"/api/v1/orders/{uuid}/execute", headers=headers)


async def test_an_order_posted_with_the_victims_uuid_never_makes_the_attacker_its_owner(
    start_gateway, exchange, stacks_signer, other_stacks_signer
):
    sloppy, url = exchange
    gw = await start_gateway(clock=mid_minute_clock(), upstream={"url": url})
    created = await post_order(gw, stacks_signer, "uuid-victim")
    assert created.status == 201, created.body
    victims = created.body["data"]["uuid"]  # as the exchange named it

    attack = await post_order(gw, other_stacks_signer, victims)
    assert attack.status == 201  # the sloppy exchange took it

    stolen = await signed_execute(gw, other_stacks_signer, victims)
    assert (stolen.status, stolen.body["code"]) == (403, "WALLET_MISMATCH")
    assert victims not in sloppy.executed
    own = await signed_execute(gw, stacks_signer, victims)
    assert own.status == 200, own.body
    assert sloppy.executed == [victims]


async def test_the_owner_is_learned_from_the_reply_not_the_request(
    start_gateway, exchange, stacks_signer
):
    sloppy, url = exchange
    gw = await start_gateway(clock=mid_minute_clock(), upstream={"url": url})
    created = await post_order(gw, stacks_signer, "uuid-as-requested")
    named = created.body["data"]["uuid"]
    before = await owner_lookups(gw)
    assert (await signed_execute(gw, stacks_signer, named)).status == 200
    # Primed from the 201: no lookup for the order the exchange named.
    assert await owner_lookups(gw) == before
    if sloppy.own_ids:
        ghost = await signed_execute(gw, stacks_signer, "uuid-as-requested")
        # The requested uuid was never the exchange's: not known to the gateway either.
        assert (ghost.status, ghost.body["code"]) == (404, "ORDER_NOT_FOUND")


async def owner_lookups(gw: RunningGateway) -> float:
    async with gw.client.get(gw.admin_url + "/metrics") as reply:
        text = await reply.text()
    for line in text.splitlines():
        if line.startswith("walletgate_owner_lookups_total "):
            return float(line.split()[1])
    raise AssertionError("walletgate_owner_lookups_total missing")


async def test_owner_resolver_keeps_the_first_owner() -> None:
    from gateway.auth.ownership import OwnerResolver
    from gateway.upstream.forwarder import Forwarder

    unreachable = Forwarder("http://127.0.0.1:1", timeout_s=1, max_connections=1)
    owners = OwnerResolver(unreachable, owner_field="data.owner", cache_size=8)
    owners.prime("u1", "SP-first")
    owners.prime_from_reply({"data": {"uuid": "u1", "owner": "SP-second"}})
    assert await owners.owner_of("u1", "request-1") == "SP-first"
