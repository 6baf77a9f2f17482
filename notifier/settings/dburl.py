"""NOTIFIER_DB: a SQLite path or a PostgreSQL URL, and how to show one without its secrets.

A PostgreSQL URL can carry secrets in two places: its userinfo
(`postgresql://user:password@host/db`) and its query, where libpq takes any connection
parameter (`?password=...`, `?sslpassword=...`, PostgreSQL 18's
`?oauth_client_secret=...`). Every error, log line and status that names the database
shows `redact_url(url)`, never the URL itself, and every secret value in it
(`url_secrets`) is registered with the log redaction in case a driver message echoes
it (contract sections 9 and 12).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")
HIDDEN = "***"


def is_postgres_url(value: str) -> bool:
    return value.strip().lower().startswith(SCHEMES)


def is_secret_param(name: str) -> bool:
    """A libpq connection parameter whose value is a secret: `password`, `sslpassword`,
    `oauth_client_secret`, and (to be safe with parameters libpq adds later) any name
    that says password or secret. Paths to key files (`sslkey`, `passfile`) are not
    secrets themselves."""
    name = name.strip().lower()
    return "password" in name or "secret" in name


def url_secrets(url: str) -> list[str]:
    """Every secret value in the URL, as written and decoded, for the log redaction
    (empty for a SQLite path or a URL without secrets)."""
    try:
        parts = urlsplit(url.strip())
        raw_password = parts.netloc.rpartition("@")[0].partition(":")[2] if parts.password else ""
    except ValueError:
        return []
    values = [raw_password, unquote(raw_password)]
    for raw in parts.query.split("&"):
        name, _, value = raw.partition("=")
        if is_secret_param(unquote(name)):
            values += [value, unquote(value.replace("+", " ")), unquote(value)]
    return [v for v in dict.fromkeys(values) if v]


def redact_url(url: str) -> str:
    """The URL with its password and its secret query parameters replaced by `***`
    (everything else kept, to be useful in an error). A URL that cannot even be parsed
    is shown as its scheme only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return url.split("://", 1)[0] + "://" + HIDDEN
    netloc = parts.netloc
    if parts.password is not None or "@" in parts.netloc:
        user = parts.username or ""
        netloc = f"{user}:{HIDDEN}@" if parts.password is not None else f"{user}@"
        netloc += f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
    query = "&".join(_hide_param(raw) for raw in parts.query.split("&"))
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _hide_param(raw: str) -> str:
    """One `name=value` of a query, with the value hidden when it is a secret."""
    name = raw.partition("=")[0]
    return f"{name}={HIDDEN}" if is_secret_param(unquote(name)) else raw


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
