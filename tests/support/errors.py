"""Assert on the HTTP error a lower layer's exception becomes, through the one table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gateway.errors import ApiError
from gateway.http.errors import REFUSALS, api_error


class Refusal:
    """What `raises_api_error` caught, as the client would see it."""

    value: ApiError


@contextmanager
def raises_api_error() -> Iterator[Refusal]:
    """Like `pytest.raises(ApiError)`, for code that raises its own exceptions."""
    caught = Refusal()
    try:
        yield caught
    except REFUSALS as exc:
        caught.value = api_error(exc)
        return
    pytest.fail("expected a refusal, nothing was raised")
