"""Logging set-up with a last line of defence for secrets: every record is scrubbed of
the secret values the process knows (tokens, passwords, webhook secrets) before it is
written, whatever code produced it.

Logs go to standard error, as text (`time LEVEL logger: message`) or as JSON, one
object a line with `time`, `level`, `logger` and `message` (and `exception` with the
traceback, and any `extra=` fields the call gave), so a log shipper can parse each
line alone (contract section 9).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

_SECRETS: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Add values that must never be printed. Short values are ignored (they would
    redact ordinary words)."""
    for value in values:
        if value and len(value) >= 6:
            _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line; every string in it is scrubbed of known secrets."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}


def setup_logging(level: int | str = logging.INFO, fmt: str = "text") -> None:
    """Send every log record to standard error, as `fmt` (`text` or `json`), from
    `level` up (a number or `DEBUG`, `INFO`, `WARNING`, `ERROR`)."""
    if isinstance(level, str):
        level = LEVELS[level.upper()]
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "slack_sdk", "mail.log", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
