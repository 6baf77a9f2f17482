"""The history half of the PostgreSQL store (contract section 11): each event compactly,
and each student's latest activity, written by `record` in the transaction that marks
the cycle's keys seen, as the SQLite store does (notifier.state.sqlite_history, whose
packing it shares, so both stores hold the same bytes and migrate-store copies them).

Rows are written one statement each in a pipeline (`executemany`), in order: the
upserts then mean exactly what SQLite's do (the latest activity wins, a later row of
the same event replaces an earlier one), whatever a batch holds twice.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg.rows import TupleRow

from notifier.events import Activity, Kept
from notifier.state.postgres_conn import PostgresPart
from notifier.state.rows import first, named
from notifier.state.sqlite_history import INACTIVITY_SEEN, _pack, _unpack


def write_history(conn: psycopg.Connection[TupleRow], kept: Iterable[Kept]) -> None:
    """Inside `record`'s transaction: the events, and the students' last activity."""
    rows = [k for k in kept if k.subject is not None]
    if not rows:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO history (kind, subject, at, key, data) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (kind, subject, at, key) DO UPDATE SET data = EXCLUDED.data",
            [(k.kind, k.subject, k.at, k.key, _pack(k)) for k in rows],
        )
        by_user = [k for k in rows if not str(k.subject).startswith("email:")]
        cursor.executemany(
            "INSERT INTO activity (user_id, email, at, kind, title, student) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id) DO UPDATE SET "
            "at = EXCLUDED.at, kind = EXCLUDED.kind, title = EXCLUDED.title, "
            "email = COALESCE(EXCLUDED.email, activity.email), "
            "student = COALESCE(EXCLUDED.student, activity.student) "
            "WHERE EXCLUDED.at > activity.at",
            [
                (k.subject, (k.email or "").lower() or None, k.at, k.kind, k.title, k.student)
                for k in by_user
            ],
        )
        by_email = [k for k in rows if str(k.subject).startswith("email:")]
        cursor.executemany(
            "UPDATE activity SET at = %s, kind = %s, title = %s WHERE email = %s AND at < %s",
            [(k.at, k.kind, k.title, str(k.subject)[6:], k.at) for k in by_email],
        )


class PostgresHistory(PostgresPart):
    """`store.history` (notifier.state.base.History)."""

    def history(self, kind: str, subjects: Iterable[str] | None, since: float) -> list[Kept]:
        """The kept events of `kind` since `since`, oldest first: of these students, or
        of every student when `subjects` is None."""
        if subjects is None:
            rows = self.pg.db().execute(
                "SELECT kind, subject, at, key, data FROM history WHERE kind = %s AND at >= %s "
                "ORDER BY at, key",
                [kind, since],
            )
        else:
            rows = self.pg.db().execute(
                "SELECT kind, subject, at, key, data FROM history WHERE kind = %s "
                "AND subject = ANY(%s) AND at >= %s ORDER BY subject, at, key",
                [kind, sorted(set(subjects)), since],
            )
        return [_unpack(**row) for row in named(rows)]

    def history_since(self) -> float | None:
        """The time of the oldest kept event (None when nothing is kept yet)."""
        row = first(self.pg.db().execute("SELECT MIN(at) AS at FROM history"))
        return None if row is None else row["at"]

    def activities(self, since: float) -> list[Activity]:
        """Every student's latest activity, for those active since `since`."""
        rows = self.pg.db().execute(
            "SELECT user_id, at, kind, title, student, email FROM activity WHERE at >= %s "
            "ORDER BY user_id",
            [since],
        )
        return [Activity(**row) for row in named(rows)]

    def prune_history(self, *, before: float, activity_before: float) -> dict[str, int]:
        """Forget events older than the longest window any rule uses, students not
        active for the longest time kept, and the inactivity marks as old."""
        with self.pg.tx() as conn:

            def delete(sql: str, values: list[object]) -> int:
                return max(0, conn.execute(sql, values).rowcount)

            return {
                "history": delete("DELETE FROM history WHERE at < %s", [before]),
                "activity": delete("DELETE FROM activity WHERE at < %s", [activity_before]),
                "inactivity": delete(
                    "DELETE FROM seen WHERE source = %s AND seen_at < %s",
                    [INACTIVITY_SEEN, activity_before],
                ),
            }
