"""The access line written the cheap way is the line the log formatters write."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest

from gateway.http.access_log import FLUSH_DELAY_S, AccessLines, UtcSeconds
from gateway.http.context import RequestState
from gateway.logs import EVENT, FIELDS, JsonFormatter, TextFormatter

ROUTE = "/api/v1/orders/{uuid}/execute"
STATES = [
    RequestState("req-1", "203.0.113.7"),
    RequestState(
        "0123456789abcdef0000000000000001",
        "2001:db8::1",
        route=ROUTE,
        auth="api_key",
        key_id="key_0123456789abcdef",
        wallet="SP3JXHVKQEEFMSC7789MYGGV6PF0DVVY3EKMGGCM3",
        upstream_s=0.0004567,
        error_code="WALLET_MISMATCH",
    ),
    RequestState(
        "a:b.c_d-e", "", auth="signature", wallet="0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    ),
]
TS = re.compile(r"^\S+")


def formatted(formatter: logging.Formatter, state: RequestState, status: int) -> str:
    fields = {
        "request_id": state.request_id,
        "method": "POST",
        "route": ROUTE,
        "status": status,
        "duration_ms": round(0.0012345 * 1000, 3),
        "upstream_ms": None if state.upstream_s is None else round(state.upstream_s * 1000, 3),
        "client_ip": state.client_ip,
        "auth": state.auth,
        "key_id": state.key_id,
        "wallet": state.wallet,
        "code": state.error_code,
    }
    record = logging.getLogger("walletgate.access").makeRecord(
        "walletgate.access", logging.INFO, __file__, 0, "", (), None,
        extra={EVENT: "request", FIELDS: fields},
    )  # fmt: skip
    return formatter.format(record)


def written(state: RequestState, status: int, json_format: bool) -> str:
    lines = AccessLines()
    line = lines._json_line if json_format else lines._text_line
    return line(state, "POST", ROUTE, status, 0.0012345)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("status", [200, 403, 499])
def test_json_line_is_the_json_formatters_line(state: RequestState, status: int) -> None:
    ours = json.loads(written(state, status, json_format=True))
    theirs = json.loads(formatted(JsonFormatter(), state, status))
    assert list(ours) == list(theirs)
    assert {k: v for k, v in ours.items() if k != "ts"} == {
        k: v for k, v in theirs.items() if k != "ts"
    }


@pytest.mark.parametrize("state", STATES)
def test_text_line_is_the_text_formatters_line(state: RequestState) -> None:
    ours = written(state, 200, json_format=False)
    theirs = formatted(TextFormatter(), state, 200)
    assert TS.sub("", ours) == TS.sub("", theirs)


def test_timestamps_are_iso_utc_milliseconds() -> None:
    stamp = UtcSeconds().now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp), stamp


async def test_lines_of_one_batch_reach_the_handlers_as_one_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = AccessLines()
    with caplog.at_level(logging.INFO, logger="walletgate.access"):
        for state in STATES:
            lines.write(state, "GET", "/api/v1/orders", 200, 0.001, json_format=True)
        await asyncio.sleep(0)
        assert caplog.records == []  # nothing handed over before the delay
        await asyncio.sleep(FLUSH_DELAY_S * 3)
    [record] = caplog.records
    batch = record.preformatted.split("\n")
    assert [json.loads(line)["request_id"] for line in batch] == [s.request_id for s in STATES]


def test_flush_hands_over_what_is_pending_and_nothing_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = AccessLines()
    lines._pending.append("one")
    with caplog.at_level(logging.INFO, logger="walletgate.access"):
        lines.flush()
        lines.flush()
    assert [r.preformatted for r in caplog.records] == ["one"]
