"""The meta half of the PostgreSQL store (the SQLite one's twin): the schema version and
the sources' baselines, and pruning what can no longer matter."""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from notifier.state.postgres_conn import PostgresPart
from notifier.state.rows import first
from notifier.state.sqlite_history import INACTIVITY_SEEN


def read_meta(conn: psycopg.Connection[TupleRow], key: str) -> str | None:
    row = first(conn.execute("SELECT value FROM meta WHERE key = %s", [key]))
    return None if row is None else str(row["value"])


def write_meta(conn: psycopg.Connection[TupleRow], key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        [key, value],
    )


class PostgresMeta(PostgresPart):
    """`store.meta` (notifier.state.base.Meta)."""

    def get_meta(self, key: str) -> str | None:
        return read_meta(self.pg.db(), key)

    def set_meta(self, key: str, value: str) -> None:
        write_meta(self.pg.db(), key, value)

    def prune(
        self, *, seen_before: float, sent_before: float, dead_before: float
    ) -> dict[str, int]:
        """Forget what can no longer matter (as the SQLite store does), in one transaction."""
        with self.pg.tx() as conn:

            def delete(sql: str, *values: object) -> int:
                return max(0, conn.execute(sql, list(values)).rowcount)

            for status, before in (("sent", sent_before), ("dead", dead_before)):
                delete(  # a delivery's tries go with it
                    "DELETE FROM outbox_tries WHERE delivery IN (SELECT id FROM outbox "
                    "WHERE status = %s AND updated_at < %s)",
                    status,
                    before,
                )
            return {
                "seen": delete(
                    "DELETE FROM seen WHERE seen_at < %s AND source <> %s",
                    seen_before,
                    INACTIVITY_SEEN,
                ),
                "sent": delete(
                    "DELETE FROM outbox WHERE status = 'sent' AND updated_at < %s", sent_before
                ),
                "dead": delete(
                    "DELETE FROM outbox WHERE status = 'dead' AND updated_at < %s", dead_before
                ),
                "cache": delete(
                    "DELETE FROM state WHERE scope = 'lookups' AND updated_at < %s", dead_before
                ),
            }

    def compact(self) -> int:
        """Nothing to do: PostgreSQL's autovacuum makes deleted rows' space free for new
        ones (a `VACUUM FULL` would lock every table while it rewrote them)."""
        return 0
