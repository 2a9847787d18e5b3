"""schemathesis against the served /openapi.json (bad input):
generated requests to every documented operation get only documented
answers, never a 5xx, and no rejected request changes the key store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.threaded_support import ThreadedGateway, run_threaded_gateway

DOCUMENTED = {200, 201, 400, 401, 403, 404, 405, 409, 413, 429}


@pytest.fixture(scope="module")
def threaded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    yield from run_threaded_gateway(tmp_path_factory.mktemp("schemathesis"))


def operations(base_url: str) -> list:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_generated_requests_get_documented_answers(threaded_gateway: ThreadedGateway) -> None:
    # schemathesis' pytest plugin lags pytest 9, so its strategies drive
    # hypothesis directly, one operation at a time.
    found = operations(threaded_gateway.base_url)
    assert len(found) >= 12
    for operation in found:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: schemathesis.Case) -> None:
            before = threaded_gateway.key_count()
            response = case.call(base_url=threaded_gateway.base_url)
            assert response.status_code in DOCUMENTED, (
                case.method,
                case.formatted_path,
                response.text[:300],
            )
            if response.status_code >= 400:
                assert set(response.json()) >= {"error", "code", "details", "timestamp"}
                assert threaded_gateway.key_count() == before

        answers_as_documented()
