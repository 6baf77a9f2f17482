"""The state store: seen marks, the outbox, cursors and small state, the inbox of pushed
webhooks, meta; and the lock.

`base` holds the concerns' Protocols, `store` the store (a handle whose attributes are
the concerns) and the joins the rest of the notifier depends on; `sqlite` and `postgres`
are the two backends' handles, with one module per concern (`sqlite_seen`,
`sqlite_outbox`, ...; `postgres_seen`, ..., `postgres_replicas`). `open_store` picks
the backend from NOTIFIER_DB: a `postgresql://` or `postgres://` URL, or a SQLite file
path. Imports only the standard library, sqlite-utils, psycopg
(for PostgreSQL, when used) and `notifier.settings` (for the configuration error): no
transport, no rules, no channels. What each module holds, and the migration and twin
rules for a new table: `notifier/state/README.md`.
"""

from __future__ import annotations

from pathlib import Path

from notifier.settings import ConfigError
from notifier.settings.dburl import is_postgres_url, redact_url
from notifier.state.base import (
    FAULT_TRIES,
    DeliveryLog,
    Faults,
    History,
    Inbox,
    InboxRow,
    Meta,
    NewDelivery,
    Outbox,
    OutboxRow,
    RecordFault,
    SeenMarks,
    SentRow,
    SourceState,
    delivery_id,
    fault_retry_at,
    is_outage,
    iso,
)
from notifier.state.sqlite import SqliteStore
from notifier.state.sqlite import open_store as open_sqlite
from notifier.state.store import (
    DeliveryStore,
    Handle,
    InboxHandle,
    PollStore,
    Store,
    WorkerHandle,
)


def open_store(db: Path | str) -> Store:
    """The store a command uses, for NOTIFIER_DB as written (pass the string: a Path
    would fold the URL's `//`). A store that cannot be opened is a configuration
    problem (exit 2) naming NOTIFIER_DB, never showing the URL's password."""
    if isinstance(db, str) and is_postgres_url(db):
        # A named exception to "imports at the top": psycopg (~40 ms) loads only for a
        # PostgreSQL URL, so `check` and every command on SQLite start without it.
        from notifier.state.postgres import (  # noqa: PLC0415 - start-up time on SQLite
            PostgresStore,
            StoreUnavailable,
        )

        try:
            return PostgresStore(db.strip())
        except StoreUnavailable as exc:
            raise ConfigError([f"NOTIFIER_DB: cannot open the state store: {exc}"]) from None
    return open_sqlite(db)


__all__ = [
    "FAULT_TRIES",
    "SentRow",
    "DeliveryLog",
    "DeliveryStore",
    "WorkerHandle",
    "Faults",
    "Handle",
    "History",
    "Inbox",
    "InboxHandle",
    "Meta",
    "Outbox",
    "PollStore",
    "SeenMarks",
    "SourceState",
    "RecordFault",
    "fault_retry_at",
    "is_outage",
    "InboxRow",
    "NewDelivery",
    "OutboxRow",
    "SqliteStore",
    "Store",
    "delivery_id",
    "is_postgres_url",
    "iso",
    "open_store",
    "redact_url",
]
