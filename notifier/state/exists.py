"""Whether a state store exists, asked without creating one: `notifier status` on a
NOTIFIER_DB that no notifier has used says so instead of making an empty store (which
would look like a notifier that has seen nothing)."""

from __future__ import annotations

from pathlib import Path

from notifier.settings import ConfigError
from notifier.settings.dburl import is_postgres_url, redact_url
from notifier.state.rows import first


def missing_store(db: str) -> str | None:
    """Why there is no state store at `db` (NOTIFIER_DB as written), or None when there
    is one. A SQLite file that does not exist, or a PostgreSQL database without the
    notifier's tables. A database that cannot be reached is not "missing": opening it
    reports that (a configuration problem)."""
    if not is_postgres_url(db):
        path = Path(db)
        if str(db) == ":memory:" or path.exists():
            return None
        return f"no state store at {path}: no notifier has run on it yet (nothing was created)"

    # A named exception to "imports at the top", as in `open_store`: the driver loads
    # only for a PostgreSQL URL, so `status` and friends on SQLite start without it.
    import psycopg  # noqa: PLC0415 - start-up time and memory on SQLite

    from notifier.state.postgres_conn import CONNECT_TIMEOUT, reason  # noqa: PLC0415 - same

    url = db.strip()
    try:
        with psycopg.connect(
            url, autocommit=True, prepare_threshold=None, connect_timeout=CONNECT_TIMEOUT
        ) as conn:
            row = first(conn.execute("SELECT to_regclass('meta') AS meta"))
    except psycopg.Error as exc:
        raise ConfigError(
            [
                "NOTIFIER_DB: cannot open the state store: "
                f"cannot connect to {redact_url(url)}: {reason(exc, url)}"
            ]
        ) from None
    if row is not None and row["meta"] is not None:
        return None
    return (
        f"no state store in {redact_url(url)}: the database has no notifier tables; "
        "no notifier has run on it yet (nothing was created)"
    )
