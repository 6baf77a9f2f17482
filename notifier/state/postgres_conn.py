"""The PostgreSQL store's connection: one per handle (one per thread), autocommit with
explicit transactions, replaced by a new one when it broke.

No server-side prepared statements (`prepare_threshold=None`) and no session state
(no advisory locks, no temporary tables, no SET), so every handle works the same
through a transaction-pooling pgbouncer. A broken connection (the server restarted,
the network dropped) fails the call in hand; the next call connects again, so a
replica recovers from an outage by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import TupleRow

from notifier.settings.dburl import redact_url, url_secrets

CONNECT_TIMEOUT = 10


class StoreUnavailable(Exception):
    """The database could not be reached or answered with an error (message redacted)."""


class PostgresConnection:
    """One handle's connection, the base of the PostgreSQL store (each of its concerns,
    a `PostgresPart`, holds the handle): the URL, the replica id, and the connection."""

    def __init__(self, url: str, replica: str):
        self.url = url
        self.replica = replica
        self._conn: psycopg.Connection[TupleRow] | None = None
        self._joined = False  # inside together(): nested tx() blocks join the one transaction

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self.url)!r})"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def db(self) -> psycopg.Connection[TupleRow]:
        """The live connection, reconnecting when the last one broke."""
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            conn.close()
        self._conn = None
        try:
            self._conn = psycopg.connect(
                self.url,
                autocommit=True,
                prepare_threshold=None,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="testpress-notifier",
            )
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to {redact_url(self.url)}: {reason(exc, self.url)}"
            ) from None
        return self._conn

    @contextmanager
    def tx(self) -> Iterator[psycopg.Connection[TupleRow]]:
        """One transaction: everything inside commits together or not at all."""
        conn = self.db()
        if self._joined:
            yield conn  # a block of together()'s transaction, without a savepoint
            return
        with conn.transaction():
            yield conn

    @contextmanager
    def together(self) -> Iterator[None]:
        """One transaction for several blocks (delivery outcomes written as a group):
        the `tx()` blocks inside it join it without savepoints (a round trip each), so
        they commit together or not at all; the caller writes each alone again when it
        fails."""
        with self.tx():
            self._joined = True
            try:
                yield
            finally:
                self._joined = False


def reason(exc: BaseException, url: str) -> str:
    """The driver's message, first line only, with anything of the URL taken out."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    text = text.replace(url, redact_url(url))
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class PostgresPart:
    """A concern of the PostgreSQL store (`store.seen`, `store.outbox`, ...): its
    queries on the connection of the handle it belongs to, as this replica."""

    def __init__(self, pg: PostgresConnection):
        self.pg = pg
        self.replica = pg.replica
