"""schemathesis against the operator API's own /admin/v1/openapi.json: generated
requests, made with a write token, get only documented answers with the error
body, never a 5xx, and none that is refused changes the store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from gateway.http.context import GATEWAY
from tests.support.operator_support import WRITE_TOKEN, operator_sections
from tests.support.threaded_support import ThreadedGateway, run_threaded_gateway

DOCUMENTED = {200, 400, 401, 403, 404, 405, 409, 413, 429}


@pytest.fixture(scope="module")
def operator_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    yield from run_threaded_gateway(
        tmp_path_factory.mktemp("operator-schemathesis"),
        rate_limits={"operator_per_minute": 1_000_000},
        **operator_sections(),
    )


def snapshot(gw: ThreadedGateway) -> tuple[object, ...]:
    store = gw.app[GATEWAY].store

    async def read() -> tuple[object, ...]:
        keys = await store.list_keys()
        return (
            sorted((k.id, k.status, k.rate_limit, k.expires_at) for k in keys),
            await store.wallet_tiers(),
            len(await store.list_events(limit=1000)),
        )

    return asyncio.run_coroutine_threadsafe(read(), gw.loop).result(10)


def test_generated_operator_requests_get_documented_answers(
    operator_gateway: ThreadedGateway,
) -> None:
    base = f"http://{operator_gateway.host}:{operator_gateway.admin_port}/admin/v1"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == 8
    headers = {"Authorization": f"Bearer {WRITE_TOKEN}"}
    for operation in found:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: schemathesis.Case) -> None:
            before = snapshot(operator_gateway)
            response = case.call(base_url=base, headers=headers)
            assert response.status_code in DOCUMENTED, (
                case.method,
                case.formatted_path,
                response.text[:300],
            )
            if response.status_code >= 400:
                assert set(response.json()) >= {"error", "code", "details", "timestamp"}
                assert snapshot(operator_gateway) == before

        answers_as_documented()
