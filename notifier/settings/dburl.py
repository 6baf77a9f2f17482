"""NOTIFIER_DB: a SQLite path or a PostgreSQL URL, and how to show one without its secret.

The URL's password is a secret (contract section 12): every error, log line and status
that names the database shows `redact_url(url)`, never the URL itself, and the password
is registered with the log redaction by `notifier run` in case a driver message echoes it.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(value: str) -> bool:
    return value.strip().lower().startswith(SCHEMES)


def password_of(url: str) -> str | None:
    """The URL's password (decoded), for the log redaction; None when it has none."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (everything else kept, to be useful
    in an error). A URL that cannot even be parsed is shown as its scheme only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return url.split("://", 1)[0] + "://***"
    if parts.password is None and "@" not in parts.netloc:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@" if parts.password is not None else f"{user}@"
    netloc += f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def check_db(value: str) -> str:
    """Validate NOTIFIER_DB: a PostgreSQL URL must name a host or socket and a database.
    The message never contains the value (it may carry a password)."""
    value = value.strip()
    if not is_postgres_url(value):
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("is not a valid PostgreSQL URL (a bad host or port)") from None
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise ValueError(
            "a PostgreSQL URL must name the database: postgresql://user:password@host:5432/db"
        )
    return value
