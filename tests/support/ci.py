"""Skip locally, fail in CI: one rule for every test that needs an outside tool.

`.ci/run` exports CI=true itself, so the rule holds however CI is started;
CI services set it too. A developer machine without the tool skips.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

_FALSE = {"", "0", "false", "no", "off"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in _FALSE


def missing(reason: str) -> NoReturn:
    """A required tool is absent: a failure in CI, a skip elsewhere."""
    if in_ci():
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)
