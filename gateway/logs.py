"""Logging: configured once at start-up, text or JSON lines on stderr.

Records travel through a `QueueHandler` to a `QueueListener` thread that
formats and writes them, so a slow stderr (a pipe, a container log driver)
never blocks the event loop. Structured lines carry an `event` name and a
`fields` mapping (`log_event`); free-text lines from libraries (aiohttp,
asyncio) pass through `redact`, which removes anything shaped like a key, a
signature or a private key, in the message and in exception texts alike.
Our own structured fields are built from values that are never secret (ids,
wallets, addresses), so they are not scanned: that keeps the access line cheap.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.handlers
import queue
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from gateway.config import LogSettings

ROOT_LOGGER: Final = "walletgate"
FIELDS: Final = "fields"
EVENT: Final = "event"
# A record whose lines are written already (the access lines of one loop
# turn): formatters pass its text through as it is.
PREFORMATTED: Final = "preformatted"

# Key-shaped tokens (any prefix: letters, digits and underscores, then a long
# run), long hex (signatures, private keys, hashes) and long base64 runs.
_SECRET_SHAPES: Final = re.compile(
    r"[A-Za-z]+_(?:[A-Za-z]+_)?[A-Za-z0-9]{20,}"
    r"|(?:0x)?[0-9A-Fa-f]{64,}"
    r"|[A-Za-z0-9+/_-]{48,}={0,2}"
)
_BODY_SHAPES: Final = re.compile(r"\{.*\}|b'.*'|b\".*\"", re.S)
REDACTED: Final = "[redacted]"


def redact(text: str) -> str:
    """Free text with anything secret-shaped, and any quoted payload, replaced."""
    text = _BODY_SHAPES.sub(REDACTED, text)
    return _SECRET_SHAPES.sub(REDACTED, text)


def log_event(
    logger: logging.Logger, level: int, event: str, message: str = "", **fields: Any
) -> None:
    """One structured line: `event` plus fields, which must hold no secret."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={EVENT: event, FIELDS: fields})


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _free_text(record: logging.LogRecord) -> str:
    """The record's message and exception text, redacted unless it is ours."""
    text = record.getMessage()
    if record.exc_text:
        text = f"{text}\n{record.exc_text}" if text else record.exc_text
    if getattr(record, FIELDS, None) is None:
        text = redact(text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, the fields, then message."""

    def format(self, record: logging.LogRecord) -> str:
        written: str | None = getattr(record, PREFORMATTED, None)
        if written is not None:
            return written
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "event": getattr(record, EVENT, None) or "log",
        }
        fields: Mapping[str, Any] | None = getattr(record, FIELDS, None)
        if fields:
            line.update(fields)
        text = _free_text(record)
        if text:
            line["message"] = text
        if line["event"] == "log":
            line["logger"] = record.name
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`ts LEVEL event key=value ... message` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        written: str | None = getattr(record, PREFORMATTED, None)
        if written is not None:
            return written
        parts = [_timestamp(record), record.levelname, getattr(record, EVENT, None) or "log"]
        fields: Mapping[str, Any] | None = getattr(record, FIELDS, None)
        if fields:
            parts.extend(f"{name}={text_value(value)}" for name, value in fields.items())
        else:
            parts.append(f"logger={record.name}")
        text = _free_text(record)
        if text:
            parts.append(text.replace("\n", "\n    "))
        return " ".join(parts)


def text_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, separators=(",", ":"))
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' ="\n') else text


class _DeferredQueueHandler(logging.handlers.QueueHandler):
    """Queues the record with its arguments merged but not yet formatted.

    The stdlib `prepare` formats on the caller's thread; here only the
    message is merged (arguments may be mutable) and the exception turned to
    text (a traceback cannot cross threads safely), the rest is the
    listener's work.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


def formatter_for(format_name: str) -> logging.Formatter:
    return JsonFormatter() if format_name == "json" else TextFormatter()


class LogControl:
    """The one logging set-up of a process: changed in place on reload, stopped at exit."""

    def __init__(self, settings: LogSettings, stream: TextIO | None = None) -> None:
        self._output = logging.StreamHandler(stream or sys.stderr)
        self._listener = logging.handlers.QueueListener(
            queue.SimpleQueue(), self._output, respect_handler_level=False
        )
        self._queue_handler = _DeferredQueueHandler(self._listener.queue)
        self._running = False
        self.settings = settings

    def start(self) -> None:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(self._queue_handler)
        self.apply(self.settings)
        self._listener.start()
        self._running = True

    def apply(self, settings: LogSettings) -> None:
        """New level and format, for every logger, from the next line on."""
        self.settings = settings
        self._output.setFormatter(formatter_for(settings.format))
        logging.getLogger().setLevel(settings.level.upper())
        # aiohttp's own access logger stays silent: the gateway writes its own line.
        logging.getLogger("aiohttp.access").setLevel(logging.CRITICAL + 1)

    def stop(self) -> None:
        """Write every queued line, then detach; a second call does nothing."""
        if not self._running:
            return
        self._running = False
        logging.getLogger().removeHandler(self._queue_handler)
        self._listener.stop()
        self._output.flush()


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> LogControl:
    control = LogControl(settings, stream)
    control.start()
    return control
