"""Adversarial framing between the gateway and a broken or malicious upstream.

A raw-socket upstream sends what no HTTP library would: a second answer
after the first, answers prepended to the next exchange, oversize heads,
bodies cut short, unknown transfer codings. Every test asserts what the
client got and what the gateway counted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningGateway, create_api_key
from tests.support.forwarding_support import error_of
from tests.support.raw_upstream import (
    RawRequest,
    RawUpstream,
    answer,
    echo,
    metric,
)

ORDERS = "/api/v1/orders"
UNLIMITED = {"public_per_minute": 1_000_000, "per_minute": 1_000_000}


@pytest.fixture
async def raw_upstream() -> AsyncIterator[RawUpstream]:
    upstream = await RawUpstream().start()
    yield upstream
    await upstream.close()


@pytest.fixture
async def gw(start_gateway, raw_upstream: RawUpstream) -> RunningGateway:
    return await start_gateway(
        upstream={"url": raw_upstream.url, "timeout_s": 5.0, "max_headers": 30},
        rate_limits=UNLIMITED,
    )


async def get_json(gw: RunningGateway, path: str) -> tuple[int, Any]:
    async with gw.client.get(gw.at(path)) as response:
        return response.status, await response.json()


async def assert_next_request_is_served(gw: RunningGateway, raw_upstream: RawUpstream) -> None:
    raw_upstream.script = echo_script
    status, body = await get_json(gw, f"{ORDERS}/after")
    assert (status, body["target"]) == (200, f"{ORDERS}/after")


async def echo_script(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(echo(request))


# -- one answer per request, and only one -----------------------------------------------


async def test_two_answers_in_one_read_are_never_merged(gw, raw_upstream):
    async def twice(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        second = answer(404, b'{"second": true}', "X-Second: yes")
        writer.write(echo(request) + second)

    raw_upstream.script = twice
    async with gw.client.get(gw.at(f"{ORDERS}/one")) as response:
        # Which of the two answers is ours cannot be proven: neither is relayed.
        await error_of(response, 502, "UPSTREAM_UNAVAILABLE")
        assert "X-Second" not in response.headers
    assert await metric(gw, "walletgate_upstream_errors_total", kind="unavailable") == 1
    await assert_next_request_is_served(gw, raw_upstream)


async def test_an_unsolicited_answer_never_reaches_another_client(gw, raw_upstream):
    """A poisoned exchange leaves a stale answer in front of the next one on its connection."""
    stale: dict[asyncio.StreamWriter, bytes] = {}

    async def poisoning(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        pending = stale.pop(writer, b"")
        writer.write(pending + echo(request))
        if "poison" in request.target:
            stale[writer] = answer(200, json.dumps({"target": "/stale"}).encode())

    raw_upstream.script = poisoning
    outcomes: list[tuple[str, int, Any]] = []

    async def client(number: int) -> None:
        async with aiohttp.ClientSession() as session:
            for round_ in range(12):
                name = "poison" if round_ % 4 == 1 else "plain"
                path = f"{ORDERS}/{name}-{number}-{round_}"
                async with session.get(gw.at(path)) as response:
                    outcomes.append((path, response.status, await response.json()))

    await asyncio.gather(*(client(n) for n in range(16)))
    assert len(outcomes) == 16 * 12
    for path, status, body in outcomes:
        assert status in (200, 502), (path, status, body)
        if status == 200:
            assert body["target"] == path  # never another request's (or a stale) answer
        else:
            assert body["code"] == "UPSTREAM_UNAVAILABLE"
    failed = sum(status == 502 for _, status, _ in outcomes)
    assert failed >= 1  # the stale answers were met, and only their exchanges failed
    assert failed == await metric(gw, "walletgate_upstream_errors_total", kind="unavailable")
    assert failed <= sum("poison" in path for path, _, _ in outcomes)


async def test_bytes_after_a_complete_answer_are_never_taken_as_the_next_one(gw, raw_upstream):
    """Garbage trailing an answer on a kept-alive connection: the connection is not reused."""

    async def trailing(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(echo(request) + b"HTTP/1.1 200 X\r\nContent-Length: 5\r\n\r\nstale")

    raw_upstream.script = trailing
    async with gw.client.get(gw.at(f"{ORDERS}/first")) as response:
        await error_of(response, 502, "UPSTREAM_UNAVAILABLE")
    raw_upstream.script = echo_script
    status, body = await get_json(gw, f"{ORDERS}/second")
    assert (status, body["target"]) == (200, f"{ORDERS}/second")


# -- bounded answer heads -------------------------------------------------------------------


def head_script(*headers: str) -> Any:
    async def script(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(200, b"{}", *headers))

    return script


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([f"X-Many-{n}: {n}" for n in range(31)], id="more-fields-than-max_headers"),
        pytest.param(["X-Huge: " + "a" * 70_000], id="one-field-over-max_head_bytes"),
        pytest.param([f"X-Big-{n}: {'b' * 3000}" for n in range(25)], id="block-over-limit"),
    ],
)
async def test_an_oversize_answer_head_is_502(gw, raw_upstream, headers):
    raw_upstream.script = head_script(*headers)
    async with gw.client.get(gw.at(f"{ORDERS}/head")) as response:
        await error_of(response, 502, "UPSTREAM_UNAVAILABLE")
        assert "X-Huge" not in response.headers
    await assert_next_request_is_served(gw, raw_upstream)


async def test_an_endless_answer_head_is_cut_at_the_limit(gw, raw_upstream):
    async def endless(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 X\r\nX-Endless: ")
        for _ in range(64):  # 4 MiB of one header value, never finished
            writer.write(b"c" * 65536)
            await writer.drain()

    raw_upstream.script = endless
    async with gw.client.get(gw.at(f"{ORDERS}/endless")) as response:
        await error_of(response, 502, "UPSTREAM_UNAVAILABLE")


async def test_head_limits_within_bounds_pass(gw, raw_upstream):
    raw_upstream.script = head_script(*(f"X-Ok-{n}: {n}" for n in range(25)))
    async with gw.client.get(gw.at(f"{ORDERS}/fine")) as response:
        assert response.status == 200
        assert response.headers["X-Ok-24"] == "24"


# -- a broken body is an upstream error, not a 200 ------------------------------------------


def owner_or(script: Any, owner: str) -> Any:
    """Answer the gateway's own owner lookups; everything else by `script`."""

    async def combined(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if request.method == "GET":
            body = json.dumps({"data": {"owner": owner}}).encode()
            writer.write(answer(200, body, "Content-Type: application/json"))
        else:
            await script(request, writer)

    return combined


async def cut_short_streamed(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 X\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
    await writer.drain()
    writer.transport.abort()


async def cut_short_small(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 X\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    await writer.drain()
    writer.transport.abort()


async def cut_short_chunked(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 X\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    await writer.drain()
    writer.transport.abort()


async def unknown_coding(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 X\r\nTransfer-Encoding: gzip\r\n\r\nnot-really-gzip")
    await writer.drain()
    writer.close()


async def coding_under_chunked(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 X\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    "script",
    [cut_short_streamed, cut_short_small, cut_short_chunked, unknown_coding, coding_under_chunked],
)
async def test_a_broken_upstream_body_counts_as_an_upstream_error(
    start_gateway, raw_upstream, stacks_signer, script
):
    raw_upstream.script = owner_or(script, stacks_signer.address)
    gw = await start_gateway(
        upstream={"url": raw_upstream.url, "timeout_s": 5.0},
        usage={"flush_interval_s": 3600.0},
    )
    created = await create_api_key(gw, stacks_signer)
    headers = {"X-API-Key": created["apiKey"]}
    status = None
    try:
        async with gw.client.post(gw.at(f"{ORDERS}/u-1/execute"), headers=headers) as response:
            status = response.status
            await response.read()
    except aiohttp.ClientPayloadError:
        pass  # the head was relayed before the body broke off: the client sees the cut
    assert status in (None, 200, 502)
    assert await metric(gw, "walletgate_upstream_errors_total", kind="unavailable") == 1
    labels = {"route": "/api/v1/orders/{uuid}/execute", "method": "POST", "auth": "api_key"}
    assert await metric(gw, "walletgate_requests_total", status="200", **labels) == 0
    assert await metric(gw, "walletgate_requests_total", status="502", **labels) == 1
    await gw.gw.keys.flush_usage()
    key = await gw.gw.store.get(created["keyId"])
    assert key is not None
    usage = key.usage.to_json()
    assert (usage["successfulRequests"], usage["failedRequests"]) == (0, 1)
