"""Log formatting and redaction, reload's split of a new configuration, `config check`."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest

from gateway.auth.policy import DEFAULT_ROUTES
from gateway.cli.reload import compare
from gateway.config import LogSettings, Settings
from gateway.logs import REDACTED, LogControl, log_event, redact

API_KEY = "ck_live_07DeYQ30ff5WJDvIJONocpeGG055LW4nkjFfz7tBFZx2w83od"
SIGNATURE = "0x" + "ab" * 65
MESSAGE = '{"action":"create_api_key","timestamp":1700000000000}'


@pytest.mark.parametrize(
    "secret",
    [API_KEY, "stk_" + "Z9" * 20, SIGNATURE, "cd" * 32, "QUJD" * 16, MESSAGE, f"b'{API_KEY}'"],
)
def test_redact_removes_anything_secret_shaped(secret):
    text = redact(f"Invalid header value char: {secret} from 203.0.113.9")
    assert secret not in text and REDACTED in text
    assert "from 203.0.113.9" in text


def test_redact_keeps_ordinary_text():
    text = "refused malformed request from 127.0.0.1: BadHttpMessage (400)"
    assert redact(text) == text


@pytest.fixture
def captured():
    """A LogControl writing to a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    control = LogControl(LogSettings(level="debug", format="json"), stream)
    control.start()
    yield control, stream
    control.stop()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_fields_and_library_text_is_redacted(captured):
    control, stream = captured
    log_event(logging.getLogger("walletgate.test"), logging.INFO, "start", version="1.2.3")
    logging.getLogger("aiohttp.server").debug("bad line %s", API_KEY)
    control.stop()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["event"], first["level"], first["version"]) == ("start", "info", "1.2.3")
    assert first["ts"].endswith("Z")
    assert (second["event"], second["logger"], second["level"]) == (
        "log",
        "aiohttp.server",
        "debug",
    )
    assert API_KEY not in second["message"]


def test_apply_changes_level_and_format_in_place(captured):
    control, stream = captured
    logger = logging.getLogger("walletgate.test")
    control.apply(LogSettings(level="warning", format="text"))
    log_event(logger, logging.INFO, "hidden")
    log_event(logger, logging.WARNING, "shown", reason="a b")
    control.stop()
    [line] = stream.getvalue().splitlines()
    assert ' WARNING shown reason="a b"' in line


def test_reload_applies_live_sections_and_names_restart_only_keys():
    old = Settings()
    new = old.replace("listen", port=9999).replace("log", level="debug")
    new = new.replace("rate_limits", per_minute=7).replace("store", url="sqlite:///other.db")
    result = compare(old, new)
    assert set(result.applied) == {"log", "rate_limits"}
    assert set(result.ignored) == {"listen.port", "store.url"}
    assert compare(old, old) == compare(new, new)


def test_config_check_prints_the_routes_in_force():
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "config", "check"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    routes = json.loads(result.stdout)["routes"]
    assert [(r["method"], r["path"]) for r in routes] == [
        (r.method, r.path) for r in DEFAULT_ROUTES
    ]
    assert "log" in json.loads(result.stdout)
