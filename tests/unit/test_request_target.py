"""The forwarded target: rebuilt from the matched path, ambiguous targets refused."""

from __future__ import annotations

import pytest

from gateway.errors import ApiError
from gateway.http.target import request_target, target_path


@pytest.mark.parametrize(
    ("raw", "path", "forwarded"),
    [
        ("/api/v1/orders", "/api/v1/orders", "/api/v1/orders"),
        ("/api/v1/orders?owner=SP1%2BX&a=b", "/api/v1/orders", "/api/v1/orders?owner=SP1%2BX&a=b"),
        ("/api/v1/orders/%61bc", "/api/v1/orders/abc", "/api/v1/orders/abc"),
        ("/api/v1/orders/.hidden", "/api/v1/orders/.hidden", "/api/v1/orders/.hidden"),
        ("/api/v1/orders/a..b", "/api/v1/orders/a..b", "/api/v1/orders/a..b"),
        ("/api/v1/orders/caf%C3%A9", "/api/v1/orders/café", "/api/v1/orders/caf%C3%A9"),
        ("/api/v1/orders/a%20b", "/api/v1/orders/a b", "/api/v1/orders/a%20b"),
        ("/api/v1/orders?next=/../x", "/api/v1/orders", "/api/v1/orders?next=/../x"),
    ],
)
def test_origin_form_is_rebuilt_from_the_decoded_path(raw, path, forwarded):
    target = request_target(raw)
    assert (target.path, target.origin_form) == (path, forwarded)
    assert target_path(raw) == path  # a decision's check: the same path


@pytest.mark.parametrize(
    "raw",
    [
        "http://internal-admin.local/api/v1/orders",
        "https://x/api",
        "*",
        "internal:80",
        "",
        "/api/v1/orders/..",
        "/api/v1/orders/../x",
        "/api/v1/orders/.",
        "/api/v1/orders/./x",
        "/api/v1/orders/%2e%2e",
        "/api/v1/orders/%2E%2e/x",
        "/api/v1/orders/.%2E",
        "/api/v1/orders/%2e",
        "/api/v1/orders/a%2fb",
        "/api/v1/orders/a%2Fb",
        "/api/v1/orders/a%5cb",
        "/api/v1/orders/a\\b",
        "/api/v1/orders/a#b",
        "/api/v1/orders?x=1#b",
        "/api/v1/orders/%ff",
    ],
)
def test_ambiguous_targets_are_400(raw):
    for check in (request_target, target_path):
        with pytest.raises(ApiError) as caught:
            check(raw)
        assert caught.value.status == 400
        assert caught.value.message == "Invalid request target"
