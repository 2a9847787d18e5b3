"""`admit_operator`, the one step every operator API call passes: the token by
hash, the per-token charge, the scope. Real limiter (in-process), no HTTP."""

from __future__ import annotations

import hashlib

import pytest

from gateway.auth.operator import OperatorTokens, admit_operator, bearer_token
from gateway.config import RateLimitSettings
from gateway.errors import ApiError
from gateway.http.errors import api_error
from gateway.metrics import Metrics
from gateway.operator_config import OperatorTokenSettings, TokenScope
from gateway.ratelimit import MemoryLimiter, RateLimited
from gateway.ratelimit.scopes import QuotaGate

READ, WRITE = "read-token-value", "write-token-value"
NOW = 1_700_000_030.0


def _tokens() -> OperatorTokens:
    return OperatorTokens(
        OperatorTokenSettings(hashlib.sha256(t.encode()).hexdigest(), name, scope)
        for t, name, scope in ((READ, "support", "read"), (WRITE, "risk", "write"))
    )


def _quotas(per_minute: int = 2) -> QuotaGate:
    settings = RateLimitSettings(operator_per_minute=per_minute, public_per_minute=2)
    return QuotaGate(MemoryLimiter(), settings, Metrics(), fail_open=False, clock=lambda: NOW)


async def _admit(header: str | None, required: TokenScope, quotas: QuotaGate):  # type: ignore[no-untyped-def]
    return await admit_operator(
        header, required, tokens=_tokens(), quotas=quotas, client_ip="192.0.2.7"
    )


async def test_a_token_is_found_by_its_hash_and_charged_to_its_own_name():
    quotas = _quotas()
    admitted = await _admit(f"Bearer {WRITE}", TokenScope.WRITE, quotas)
    assert (admitted.operator.name, admitted.operator.scope) == ("risk", TokenScope.WRITE)
    assert admitted.origin().actor == "operator:risk"
    assert admitted.quota.scope == "operator" and admitted.quota.binding.remaining == 1
    # The other token's quota is its own.
    other = await _admit(f"Bearer {READ}", TokenScope.READ, quotas)
    assert other.quota.binding.remaining == 1


async def test_a_read_token_is_charged_then_refused_a_write():
    quotas = _quotas()
    with pytest.raises(ApiError) as refused:
        await _admit(f"Bearer {READ}", TokenScope.WRITE, quotas)
    assert (refused.value.status, refused.value.code.value) == (403, "PERMISSION_DENIED")
    assert "X-RateLimit-Limit" in refused.value.headers
    assert (await _admit(f"Bearer {READ}", TokenScope.READ, quotas)).quota.binding.remaining == 0
    with pytest.raises(RateLimited) as limited:
        await _admit(f"Bearer {READ}", TokenScope.READ, quotas)
    answer = api_error(limited.value)
    assert (answer.status, answer.code.value, answer.details["scope"]) == (
        429,
        "RATE_LIMITED",
        "operator",
    )


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic abc", f"bearer {READ} x", "Bearer " + "a" * 513, "Bearer wrong"],
)
async def test_missing_malformed_or_unknown_tokens_are_401_charged_to_the_address(header):
    quotas = _quotas()
    for _ in range(2):
        with pytest.raises(ApiError) as refused:
            await _admit(header, TokenScope.READ, quotas)
        assert refused.value.status == 401
        assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
    # The address has spent its public quota (2): the third guess is 429.
    with pytest.raises(RateLimited) as limited:
        await _admit(header, TokenScope.READ, quotas)
    assert limited.value.quota.scope == "ip"
    # No token was charged by the guesses.
    assert (await _admit(f"Bearer {READ}", TokenScope.READ, quotas)).quota.binding.remaining == 1


def test_the_scheme_is_case_insensitive_and_the_token_is_taken_whole():
    assert bearer_token(f"bEaReR {READ}") == READ
    assert bearer_token(f"  Bearer   {READ}  ") == READ
