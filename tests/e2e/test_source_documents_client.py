"""The original API documents' JavaScript client examples, ported line for line
to aiohttp, run against the gateway.

Methods, paths and headers are exactly the documents'; only the values change
(real addresses, real signatures, validity around now). `fetch` is a small
aiohttp shim; `Date.now()` and `setTimeout` follow the gateway's test clock,
so waiting out a rate-limit window takes no real time.
"""

from __future__ import annotations

import asyncio
import json
import uuid as uuid_module
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.wallets.signed import canonical_order_message
from gateway.wallets.signing import StacksSigner
from tests.conftest import RunningGateway


def json_stringify(value: Any) -> str:
    """JSON.stringify: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Response:
    status: int
    ok: bool
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Js:
    """The bits of a JavaScript runtime the documents' examples use."""

    gw: RunningGateway
    console: list[str] = field(default_factory=list)
    timeouts_ms: list[int] = field(default_factory=list)

    async def fetch(
        self,
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> Response:
        data = body.encode("utf-8") if isinstance(body, str) else None
        async with self.gw.client.request(
            method, self.gw.at(path), headers=headers or {}, data=data
        ) as response:
            text = await response.text()
            return Response(response.status, response.ok, dict(response.headers), text)

    def date_now(self) -> int:
        # Time passes a little between calls, as it does in a browser.
        self.gw.clock.advance(0.001)
        return int(self.gw.clock() * 1000)

    async def set_timeout(self, wait_ms: int) -> None:
        self.timeouts_ms.append(wait_ms)
        self.gw.clock.advance(wait_ms / 1000)

    def log(self, line: str) -> None:
        self.console.append(line)


def parse_int(value: str | None) -> int:
    """parseInt(x || '0')."""
    return int(value or "0")


# -- "API Key Management": the key a bot is given ----------------------------------------


async def create_an_api_key(js: Js, signer: StacksSigner, **optional: Any) -> str:
    message = {
        "action": "create_api_key",
        "keyName": "My Trading Bot",
        "permissions": ["create", "execute", "cancel"],
        **optional,
        "timestamp": js.date_now(),
    }
    message_string = json_stringify(message)
    signature = signer.sign(message_string)
    response = await js.fetch(
        "/api/v1/api-keys",
        method="POST",
        headers={"Content-Type": "application/json"},
        body=json_stringify(
            {
                "message": message_string,
                "signature": signature,
                "walletAddress": signer.address,
            }
        ),
    )
    if not response.ok:
        error = response.json()
        raise Exception(error["error"])
    created = response.json()
    js.log(f"Created API key: {created['name']} ({created['keyId']})")
    js.log(f"Permissions: {', '.join(created['permissions'])}")
    js.log(f"Rate limit: {created['rateLimit']} requests/minute")
    return created["apiKey"]


def order_data(signer: StacksSigner) -> dict[str, Any]:
    """The documents' orderData, with a real owner, signature and validity window."""
    now = datetime.now(UTC)
    unsigned = {
        "owner": signer.address,
        "inputToken": "SP1ABC123DEF456.token-a",
        "outputToken": "SP1ABC123DEF456.token-b",
        "amountIn": "1000000",
        "targetPrice": "1.5",
        "direction": "gt",
        "conditionToken": "SP1ABC123DEF456.price-oracle",
        "recipient": signer.address,
        "uuid": f"uuid-{uuid_module.uuid4().hex}",
        "validFrom": iso_z(now - timedelta(hours=1)),
        "validTo": iso_z(now + timedelta(days=1)),
    }
    return {**unsigned, "signature": signer.sign(canonical_order_message(unsigned))}


# -- "Using API Keys for Order Operations" --------------------------------------------------


async def creating_orders(js: Js, api_key: str, order: dict[str, Any]) -> dict[str, Any]:
    response = await js.fetch(
        "/api/v1/orders/new",
        method="POST",
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
        body=json_stringify(order),
    )
    if not response.ok:
        error = response.json()
        raise Exception(error["error"])
    body = response.json()
    status, data = body["status"], body["data"]
    assert status == "success"
    js.log(f"Order created: {data['uuid']}")
    return data


async def executing_orders(js: Js, api_key: str, order_uuid: str) -> tuple[str, str]:
    response = await js.fetch(
        f"/api/v1/orders/{order_uuid}/execute",
        method="POST",
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    body = response.json()
    return body["status"], body["txid"]


async def cancelling_orders(js: Js, api_key: str, order_uuid: str) -> str:
    response = await js.fetch(
        f"/api/v1/orders/{order_uuid}/cancel",
        method="PATCH",
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    return response.json()["status"]


# -- "Handling Rate Limits" and "Error Handling Example" ------------------------------------


async def execute_with_retry(
    js: Js, api_key: str, order_uuid: str, max_retries: int = 3
) -> Response:
    response = None
    for attempt in range(1, max_retries + 1):
        response = await js.fetch(
            f"/api/v1/orders/{order_uuid}/execute", method="POST", headers={"X-API-Key": api_key}
        )
        if response.status == 429:
            reset_time = int(response.headers.get("X-RateLimit-Reset"))
            wait_time = (reset_time * 1000) - js.date_now()
            if attempt < max_retries and wait_time > 0:
                await js.set_timeout(wait_time)
                continue
        return response
    assert response is not None
    return response


async def execute_order_safely(js: Js, api_key: str, order_uuid: str) -> str:
    response = await js.fetch(
        f"/api/v1/orders/{order_uuid}/execute",
        method="POST",
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    rate_limit = {
        "limit": parse_int(response.headers.get("X-RateLimit-Limit")),
        "remaining": parse_int(response.headers.get("X-RateLimit-Remaining")),
        "reset": parse_int(response.headers.get("X-RateLimit-Reset")),
    }
    if not response.ok:
        error = response.json()
        if response.status == 429:
            wait_time = (rate_limit["reset"] * 1000) - js.date_now()
            js.log(f"Rate limited. Waiting {-(-wait_time // 1000)}s...")
            await js.set_timeout(wait_time)
            return await execute_order_safely(js, api_key, order_uuid)
        raise Exception(f"Order execution failed: {error['error']}")
    txid = response.json()["txid"]
    js.log(f"Order executed successfully! TX: {txid}")
    js.log(f"Rate limit: {rate_limit['remaining']}/{rate_limit['limit']} remaining")
    return txid


# -- "Integration Examples" -------------------------------------------------------------------


class TradingBot:
    def __init__(self, js: Js, api_key: str, wallet_address: str) -> None:
        self.js = js
        self.api_key = api_key
        self.wallet_address = wallet_address

    async def execute_order(self, order_uuid: str) -> str:
        response = await self.js.fetch(
            f"/api/v1/orders/{order_uuid}/execute",
            method="POST",
            headers={"X-API-Key": self.api_key, "Content-Type": "application/json"},
        )
        if not response.ok:
            error = response.json()
            raise Exception(f"Execution failed: {error['error']}")
        txid = response.json()["txid"]
        self.js.log(f"Order executed successfully: {txid}")
        return txid

    async def monitor_and_execute(
        self,
        order_uuid: str,
        condition: Callable[[], Awaitable[bool]],
        check_interval_s: float = 30,
    ) -> None:
        """setInterval(..., checkInterval) until executed or the order is not open."""
        while True:
            await asyncio.sleep(check_interval_s)
            try:
                if await condition():
                    await self.execute_order(order_uuid)
                    return
            except Exception as error:
                self.js.log(f"Monitoring error: {error}")
                if "Order not open" in str(error):
                    return


class PortfolioRebalancer:
    def __init__(self, js: Js, api_key: str) -> None:
        self.js = js
        self.api_key = api_key

    async def execute_order(self, order_uuid: str) -> Any:
        response = await self.js.fetch(
            f"/api/v1/orders/{order_uuid}/execute",
            method="POST",
            headers={"X-API-Key": self.api_key},
        )
        if not response.ok:
            error = response.json()
            raise Exception(error["error"])
        return response.json()


class AuthorizedSigningServer:
    def __init__(self, js: Js, api_key: str, signer: StacksSigner) -> None:
        self.js = js
        self.api_key = api_key
        self.wallet_address = signer.address
        self.signer = signer

    async def create_and_submit_order(self, order_params: dict[str, Any]) -> dict[str, Any]:
        order_uuid = str(uuid_module.uuid4())
        signature = await self.sign_transaction(
            {**order_params, "uuid": order_uuid, "owner": self.wallet_address}
        )
        order = {
            "owner": self.wallet_address,
            "signature": signature,
            "uuid": order_uuid,
            **order_params,
        }
        response = await self.js.fetch(
            "/api/v1/orders/new",
            method="POST",
            headers={"X-API-Key": self.api_key, "Content-Type": "application/json"},
            body=json_stringify(order),
        )
        if not response.ok:
            error = response.json()
            raise Exception(f"Order creation failed: {error['error']}")
        data = response.json()["data"]
        self.js.log(f"Order created: {data['uuid']}")
        return data

    async def sign_transaction(self, transaction_data: dict[str, Any]) -> str:
        return self.signer.sign(canonical_order_message(transaction_data))


# -- "Migration from Signature Authentication" -------------------------------------------------


async def execute_order(js: Js, order_uuid: str, options: dict[str, Any]) -> Response:
    if "apiKey" in options:
        headers = {"X-API-Key": options["apiKey"]}
    else:
        headers = {
            "X-Message": options["message"],
            "X-Signature": options["signature"],
            "X-Wallet-Address": options["walletAddress"],
        }
    return await js.fetch(f"/api/v1/orders/{order_uuid}/execute", method="POST", headers=headers)


# -- the tests ------------------------------------------------------------------------------------


@pytest.fixture
def js(gateway: RunningGateway) -> Js:
    return Js(gateway)


async def order_status(js: Js, order_uuid: str) -> str:
    response = await js.fetch(f"/api/v1/orders/{order_uuid}")
    return response.json()["data"]["status"]


async def test_documented_create_execute_and_cancel_examples(js, stacks_signer):
    api_key = await create_an_api_key(js, stacks_signer)
    assert js.console[0].startswith("Created API key: My Trading Bot (key_")
    assert js.console[1:3] == [
        "Permissions: create, execute, cancel",
        "Rate limit: 100 requests/minute",
    ]
    executed = await creating_orders(js, api_key, order_data(stacks_signer))
    cancelled = await creating_orders(js, api_key, order_data(stacks_signer))
    assert f"Order created: {executed['uuid']}" in js.console

    status, txid = await executing_orders(js, api_key, executed["uuid"])
    assert status == "success" and txid.startswith("0x")
    assert await cancelling_orders(js, api_key, cancelled["uuid"]) == "success"
    assert await order_status(js, executed["uuid"]) == "filled"
    assert await order_status(js, cancelled["uuid"]) == "cancelled"


async def test_documented_execute_with_retry_waits_for_the_reset(js, stacks_signer):
    api_key = await create_an_api_key(js, stacks_signer, rateLimit=1)
    order = await creating_orders(js, api_key, order_data(stacks_signer))  # uses the minute
    response = await execute_with_retry(js, api_key, order["uuid"])
    assert response.status == 200, response.text
    assert response.json()["txid"].startswith("0x")
    assert len(js.timeouts_ms) == 1 and js.timeouts_ms[0] > 0


async def test_documented_retry_returns_the_429_when_out_of_attempts(js, stacks_signer):
    api_key = await create_an_api_key(js, stacks_signer, rateLimit=1)
    order = await creating_orders(js, api_key, order_data(stacks_signer))
    response = await execute_with_retry(js, api_key, order["uuid"], max_retries=1)
    assert response.status == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert js.timeouts_ms == []


async def test_documented_execute_order_safely_reads_the_rate_limit_headers(js, stacks_signer):
    api_key = await create_an_api_key(js, stacks_signer)
    order = await creating_orders(js, api_key, order_data(stacks_signer))
    txid = await execute_order_safely(js, api_key, order["uuid"])
    assert f"Order executed successfully! TX: {txid}" in js.console
    assert js.console[-1] == "Rate limit: 98/100 remaining"  # create, then execute


async def test_documented_execute_order_safely_waits_out_a_429(js, stacks_signer):
    api_key = await create_an_api_key(js, stacks_signer, rateLimit=1)
    order = await creating_orders(js, api_key, order_data(stacks_signer))
    txid = await execute_order_safely(js, api_key, order["uuid"])
    assert txid.startswith("0x")
    assert any(line.startswith("Rate limited. Waiting ") for line in js.console)
    assert js.console[-1] == "Rate limit: 0/1 remaining"


async def test_documented_execute_order_safely_reports_the_wallet_mismatch(
    js, stacks_signer, other_stacks_signer
):
    owner_key = await create_an_api_key(js, stacks_signer)
    stranger_key = await create_an_api_key(js, other_stacks_signer)
    order = await creating_orders(js, owner_key, order_data(stacks_signer))
    with pytest.raises(Exception, match=r"^Order execution failed: API key not authorized"):
        await execute_order_safely(js, stranger_key, order["uuid"])

    response = await js.fetch(
        f"/api/v1/orders/{order['uuid']}/execute",
        method="POST",
        headers={"X-API-Key": stranger_key, "Content-Type": "application/json"},
    )
    error = response.json()  # the documents' "Example Error Response"
    assert error["error"] == "API key not authorized for this wallet"
    assert error["details"] == {
        "apiKeyWallet": other_stacks_signer.address,
        "orderOwner": stacks_signer.address,
        "orderUuid": order["uuid"],
    }
    assert datetime.fromisoformat(error["timestamp"].replace("Z", "+00:00")).tzinfo is not None


async def test_documented_trading_bot_executes_and_stops_on_order_not_open(js, stacks_signer):
    api_key = await create_an_api_key(js, stacks_signer)
    order = await creating_orders(js, api_key, order_data(stacks_signer))
    bot = TradingBot(js, api_key, stacks_signer.address)
    checks = iter([False, False, True])

    async def price_reached() -> bool:
        return next(checks)

    await bot.monitor_and_execute(order["uuid"], price_reached, check_interval_s=0)
    assert await order_status(js, order["uuid"]) == "filled"
    with pytest.raises(Exception, match=r"^Execution failed: Order not open$"):
        await bot.execute_order(order["uuid"])

    async def always() -> bool:
        return True

    await bot.monitor_and_execute(order["uuid"], always, check_interval_s=0)  # returns
    assert js.console[-1] == "Monitoring error: Execution failed: Order not open"


async def test_documented_rebalancer_and_signing_server(js, stacks_signer):
    api_key = await create_an_api_key(js, stacks_signer)
    server = AuthorizedSigningServer(js, api_key, stacks_signer)
    data = await server.create_and_submit_order(
        {
            "inputToken": "SP1ABC123DEF456.token-a",
            "outputToken": "SP1ABC123DEF456.token-b",
            "amountIn": "1000000",
            "targetPrice": "1.5",
            "direction": "gt",
            "conditionToken": "SP1ABC123DEF456.price-oracle",
            "recipient": stacks_signer.address,
        }
    )
    assert data["owner"] == stacks_signer.address
    result = await PortfolioRebalancer(js, api_key).execute_order(data["uuid"])
    assert result["status"] == "success"
    with pytest.raises(Exception, match=r"^Order not open$"):
        await PortfolioRebalancer(js, api_key).execute_order(data["uuid"])


async def test_documented_migration_both_methods_execute(js, stacks_signer):
    api_key = await create_an_api_key(js, stacks_signer)
    by_key = await creating_orders(js, api_key, order_data(stacks_signer))
    by_signature = await creating_orders(js, api_key, order_data(stacks_signer))

    response = await execute_order(js, by_key["uuid"], {"apiKey": api_key})
    assert response.status == 200, response.text

    message = json_stringify(
        {"action": "execute_order", "uuid": by_signature["uuid"], "timestamp": js.date_now()}
    )
    options = {
        "message": message,
        "signature": stacks_signer.sign(message),
        "walletAddress": stacks_signer.address,
    }
    response = await execute_order(js, by_signature["uuid"], options)
    assert response.status == 200, response.text
    assert await order_status(js, by_signature["uuid"]) == "filled"
