"""Logging set-up with a last line of defence for secrets: every record is scrubbed of
the secret values the process knows (tokens, passwords, webhook secrets, a database
URL's password and secret parameters) before it is written, whatever code produced it,
and of any URL's userinfo password and any `password=`/`secret=` value it holds, known
or not. A known secret is matched exactly, whatever its length (a short one only as a
whole token, so it cannot cut ordinary words). In JSON, each field is scrubbed before
it is encoded, so escaping cannot hide a secret from the scrub.

Logs go to standard error, as text (`time LEVEL logger: message`) or as JSON, one
object a line with `time`, `level`, `logger` and `message` (and `exception` with the
traceback, and any `extra=` fields the call gave), so a log shipper can parse each
line alone (contract section 9).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

_SECRETS: set[str] = set()
#: Secrets in the order `redact` tries them (longest first, so a secret that contains
#: another is taken out whole); rebuilt by `register_secrets`.
_ORDERED: list[tuple[str, re.Pattern[str] | None]] = []

#: Below this length a secret is matched only as a whole token (not inside a longer
#: run of letters and digits), so a short password does not cut words it happens to be
#: part of; from it on, anywhere (a long secret inside other text is still the secret).
WHOLE_TOKEN_BELOW = 6

HIDDEN = "[redacted]"

#: Structural redaction, whatever the secret's value and whether it is known: the
#: password of any URL's userinfo (`scheme://user:PASSWORD@`), and the value of any
#: `name=value` whose name says password or secret (a libpq URL's `?password=`,
#: `sslpassword=`, `oauth_client_secret=`, a conninfo string's `password=...`).
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@?#\[\]]*):([^\s/@?#]+)@")
_SECRET_PARAM = re.compile(
    r"(\b[A-Za-z0-9_]*(?:password|secret)[A-Za-z0-9_]*)=(\*\*\*|'[^']*'|[^\s&'\",;)}\]]+)",
    re.IGNORECASE,
)


def register_secrets(values: Iterable[str | None]) -> None:
    """Add values that must never be printed, whatever their length (a short one is
    matched as a whole token only, see `WHOLE_TOKEN_BELOW`)."""
    added = False
    for value in values:
        if value and value.strip() and value not in _SECRETS:
            _SECRETS.add(value)
            added = True
    if added:
        _ORDERED[:] = [
            (
                secret,
                re.compile(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])")
                if len(secret) < WHOLE_TOKEN_BELOW
                else None,
            )
            for secret in sorted(_SECRETS, key=len, reverse=True)
        ]


def redact(text: str) -> str:
    """`text` without any known secret and without any URL password or secret
    parameter's value."""
    if "=" in text:
        text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={_hidden(m.group(2))}", text)
    if "://" in text:
        text = _USERINFO.sub(lambda m: f"{m.group(1)}:{_hidden(m.group(2))}@", text)
    for secret, whole in _ORDERED:
        if secret in text:
            text = text.replace(secret, HIDDEN) if whole is None else whole.sub(HIDDEN, text)
    return text


def _hidden(value: str) -> str:
    """What a structurally found secret becomes: `[redacted]`, or `***` kept as it is
    (`redact_url` already hid it)."""
    return value if value == "***" else HIDDEN


def scrub(value: object) -> object:
    """A JSON-ready copy of a log field with every string redacted, before it is
    encoded: once encoded, a secret holding a quote, a backslash or a control
    character is escaped and no longer matches its plain value. Values JSON cannot hold
    become their `str()` (redacted too); numbers stay numbers unless one is a secret."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        text = str(value)
        return value if redact(text) == text else redact(text)
    if isinstance(value, dict):
        return {redact(str(k)): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    return redact(str(value))


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line; every field is scrubbed of secrets before it is encoded."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
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
                entry[redact(key)] = scrub(value)
        return json.dumps(entry, ensure_ascii=False)


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
