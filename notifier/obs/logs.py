"""Logging set-up with a last line of defence for secrets: every record is scrubbed of
the secret values the process knows (tokens, passwords, webhook secrets) before it is
written, whatever code produced it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

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


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "slack_sdk", "mail.log", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
