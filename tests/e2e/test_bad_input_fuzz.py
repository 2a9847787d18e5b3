"""Bad input, generated: every route answers a documented 4xx/2xx, never a 500,
and no rejected request changes the key store.

The gateway and the real backend run on their own event loop in a thread, so
hypothesis can drive plain blocking HTTP requests at them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.threaded_support import ThreadedGateway, run_threaded_gateway, send

PATHS = [
    "/api/v1/api-keys",
    "/api/v1/api-keys/key_0123456789abcdef",
    "/api/v1/api-keys/key_0123456789abcdef/rotate",
    "/api-key/generate",
    "/api-key/revoke",
    "/api/v1/orders/new",
    "/api/v1/orders/uuid-1/execute",
    "/api/v1/orders/uuid-1/cancel",
    "/api/v1/orders/uuid-1",
    "/api/v1/orders",
    "/openapi.json",
    "/nope",
]
METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]


@pytest.fixture(scope="module")
def threaded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    yield from run_threaded_gateway(tmp_path_factory.mktemp("fuzz"))


DOCUMENTED = {200, 201, 400, 401, 403, 404, 405, 409, 413, 429}
HEADER_NAMES = [
    "X-API-Key",
    "X-Message",
    "X-Signature",
    "X-Wallet-Address",
    "X-Public-Key",
    "X-Request-ID",
    "X-Gateway-Wallet",
    "Content-Type",
]

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
signed_like = st.fixed_dictionaries(
    {},
    optional={
        "message": st.one_of(st.text(max_size=80), json_values.map(json.dumps)),
        "signature": st.one_of(st.text(max_size=140), st.binary(max_size=65).map(bytes.hex)),
        "walletAddress": st.sampled_from(
            [
                "SP3JXHVKQEEFMSC7789MYGGV6PF0DVVY3EKMGGCM3",
                "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
                "",
                "SPX",
            ]
        ),
        "owner": st.text(max_size=50),
        "uuid": st.text(max_size=20),
    },
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    signed_like.map(lambda v: json.dumps(v).encode()),
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(METHODS),
    path=st.sampled_from(PATHS),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), printable, max_size=5),
    body=bodies,
)
def test_generated_requests_never_get_a_500_nor_change_the_store(
    threaded_gateway: ThreadedGateway,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    before = threaded_gateway.key_count()
    status, raw = send(threaded_gateway, method, path, headers, body)
    assert status in DOCUMENTED, (status, raw[:300])
    if status >= 400:
        payload = json.loads(raw)
        assert set(payload) >= {"error", "code", "details", "timestamp"}
        assert threaded_gateway.key_count() == before


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "ck_live_" + "A" * 5000},
        {"X-Message": "{" * 8000, "X-Signature": "00", "X-Wallet-Address": "SP"},
        {"X-API-Key": "ck_live_\u00e9\u00e9"},
    ],
)
def test_oversized_and_non_ascii_headers_get_a_4xx_json_body(
    threaded_gateway: ThreadedGateway, headers: dict[str, str]
) -> None:
    encoded = {name: value.encode("utf-8").decode("latin-1") for name, value in headers.items()}
    status, raw = send(threaded_gateway, "POST", "/api/v1/orders/uuid-1/execute", encoded, None)
    assert 400 <= status < 500
    assert json.loads(raw)["code"]


def test_invalid_utf8_body_is_a_400(threaded_gateway: ThreadedGateway) -> None:
    status, raw = send(
        threaded_gateway,
        "POST",
        "/api/v1/api-keys",
        {"Content-Type": "application/json"},
        b'{"message": "\xff\xfe"}',
    )
    assert status == 400
    assert json.loads(raw)["code"] == "BAD_REQUEST"
