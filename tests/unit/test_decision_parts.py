"""The decision's own checks, piece by piece: header names an ingress cannot remove,
the original method, and the denial a decision carries (only under a well-formed id)."""

from __future__ import annotations

import base64
import json

import pytest
from aiohttp import web

from gateway.errors import ApiError
from gateway.http.decision import original_method
from gateway.http.denial import DENIAL_HEADER, carry_denial
from gateway.http.ingress_headers import RemovableNames

NGINX_NAMES = (
    "Host",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Original-Method",
    "X-Original-URI",
    "X-Walletgate-Decision-Id",
    "X-API-Key",
    "X-Gateway-Wallet",
)


@pytest.mark.parametrize("name", ["X-Gateway-Role", "x-forwarded-evil", "X-FORWARDED-HOSTILE"])
def test_a_name_no_ingress_can_remove_is_refused_every_time(name):
    names = RemovableNames()
    names.refuse_unremovable(NGINX_NAMES)
    for _ in range(3):  # remembered verdicts refuse exactly as the first look did
        with pytest.raises(ApiError) as caught:
            names.refuse_unremovable((*NGINX_NAMES, name))
        assert caught.value.status == 400
        assert caught.value.details["header"] == name
    names.refuse_unremovable(NGINX_NAMES)


def test_the_remembered_names_stay_bounded_and_right():
    names = RemovableNames()
    flood = [f"X-Custom-{n}" for n in range(RemovableNames.MAX_NAMES * 2 + 5)]
    names.refuse_unremovable(flood)
    assert len(names._unremovable) <= RemovableNames.MAX_NAMES
    with pytest.raises(ApiError):
        names.refuse_unremovable(("X-Gateway-Role",))
    names.refuse_unremovable(NGINX_NAMES)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PROPFIND", "M-SEARCH"])
def test_well_formed_original_methods_are_taken(method):
    assert original_method(method) == method


@pytest.mark.parametrize("method", [None, "", "GE T", "GET\r\n", "Ü", "X" * 33])
def test_missing_or_malformed_original_methods_are_400(method):
    with pytest.raises(ApiError) as caught:
        original_method(method)
    assert caught.value.status == 400


def _refusal() -> web.Response:
    body = json.dumps({"error": "Invalid API key", "code": "INVALID_API_KEY", "details": {}})
    answer = web.Response(status=401, text=body, content_type="application/json")
    answer.headers["X-Request-ID"] = "req-1"
    answer.headers["Set-Cookie"] = "never=carried"
    return answer


def test_a_refusal_carries_its_denial_under_a_well_formed_decision_id():
    answer = _refusal()
    carry_denial("0123456789abcdef", answer)
    record = json.loads(base64.urlsafe_b64decode(answer.headers[DENIAL_HEADER]))
    assert record["id"] == "0123456789abcdef" and record["status"] == 401
    assert record["headers"] == [["X-Request-ID", "req-1"]]


@pytest.mark.parametrize("sent", ["", "short", "has space in it", "x" * 129, "bad/slash-id"])
def test_no_denial_is_carried_under_a_malformed_decision_id(sent):
    answer = _refusal()
    carry_denial(sent, answer)
    assert DENIAL_HEADER not in answer.headers


def test_an_allow_carries_no_denial():
    answer = web.StreamResponse(status=200)
    carry_denial("0123456789abcdef", answer)
    assert DENIAL_HEADER not in answer.headers
