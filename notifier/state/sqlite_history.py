"""The history half of the SQLite store (contract section 11): each event compactly
(kind, student, time, key, and a small JSON array [title, fields, fired rules]), and
each student's latest activity. Written by `record`, in the transaction that marks the
cycle's keys seen, so history has every event exactly when the seen marks do.

Plain SQL on purpose (one table ordered by its primary key, upserts with ON CONFLICT),
so a PostgreSQL store can say the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from notifier.events import Activity, Kept
from notifier.state.rows import first, named
from notifier.state.sqlite_conn import ImmediateDatabase, SqlitePart

INACTIVITY_SEEN = "inactivity"  # seen marks of the inactivity check: `<rule>|<key>`
_CHUNK = 500
USER_KINDS = ("attempt.completed", "content_attempt.completed")  # events with a user_id


def _pack(k: Kept) -> str:
    fields = k.fields
    if "user_id" in fields and str(fields["user_id"]) == k.subject:
        fields = {n: v for n, v in fields.items() if n != "user_id"}  # the subject says it
    row: list[object] = [k.title, fields]
    if k.fired:
        row.append(list(k.fired))
    return json.dumps(row, separators=(",", ":"), default=str)


def _unpack(kind: str, subject: str, at: float, key: str, data: str) -> Kept:
    """A `history` row as a Kept; `data` is `_pack`'s JSON: [title, fields(, fired)]."""
    title, fields, *rest = json.loads(data)
    fired = tuple(rest[0]) if rest else ()
    if kind in USER_KINDS and not subject.startswith("email:"):
        fields["user_id"] = int(subject) if subject.isdigit() else subject
    return Kept(kind, key, at, subject, title, fields, fired)


def write_history(db: ImmediateDatabase, kept: Iterable[Kept]) -> None:
    """Inside `record`'s transaction: the events, and the students' last activity."""
    rows = [k for k in kept if k.subject is not None]
    db.conn.executemany(
        "INSERT OR REPLACE INTO history(kind, subject, at, key, data) VALUES (?, ?, ?, ?, ?)",
        ((k.kind, k.subject, k.at, k.key, _pack(k)) for k in rows),  # packed one at a time
    )
    by_user = [k for k in rows if not str(k.subject).startswith("email:")]
    db.conn.executemany(
        "INSERT INTO activity(user_id, email, at, kind, title, student) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET "
        "at = excluded.at, kind = excluded.kind, title = excluded.title, "
        "email = COALESCE(excluded.email, activity.email), "
        "student = COALESCE(excluded.student, activity.student) "
        "WHERE excluded.at > activity.at",
        [
            (k.subject, (k.email or "").lower() or None, k.at, k.kind, k.title, k.student)
            for k in by_user
        ],
    )
    by_email = [k for k in rows if str(k.subject).startswith("email:")]
    db.conn.executemany(
        "UPDATE activity SET at = ?, kind = ?, title = ? WHERE email = ? AND at < ?",
        [(k.at, k.kind, k.title, str(k.subject)[6:], k.at) for k in by_email],
    )


class SqliteHistory(SqlitePart):
    """`store.history` (notifier.state.base.History)."""

    def history(self, kind: str, subjects: Iterable[str] | None, since: float) -> list[Kept]:
        """The kept events of `kind` since `since`, oldest first: of these students, or
        of every student when `subjects` is None."""
        if subjects is None:
            cursor = self.db.execute(
                "SELECT kind, subject, at, key, data FROM history WHERE kind = ? AND at >= ? "
                "ORDER BY at, key",
                [kind, since],
            )
            return [_unpack(**row) for row in named(cursor)]
        wanted = sorted(set(subjects))
        out: list[Kept] = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor = self.db.execute(
                "SELECT kind, subject, at, key, data FROM history WHERE kind = ? "
                f"AND subject IN ({marks}) AND at >= ? ORDER BY subject, at, key",
                [kind, *chunk, since],
            )
            out += [_unpack(**row) for row in named(cursor)]
        return out

    def history_since(self) -> float | None:
        """The time of the oldest kept event (None when nothing is kept yet)."""
        row = first(self.db.execute("SELECT MIN(at) AS at FROM history"))
        return None if row is None else row["at"]

    def activities(self, since: float) -> list[Activity]:
        """Every student's latest activity, for those active since `since`."""
        cursor = self.db.execute(
            "SELECT user_id, at, kind, title, student, email FROM activity WHERE at >= ? "
            "ORDER BY user_id",
            [since],
        )
        return [Activity(**row) for row in named(cursor)]

    def prune_history(self, *, before: float, activity_before: float) -> dict[str, int]:
        """Forget events older than the longest window any rule uses, students not
        active for the longest time kept, and the inactivity marks as old."""
        with self.db.atomic():
            return {
                "history": self.db.execute("DELETE FROM history WHERE at < ?", [before]).rowcount,
                "activity": self.db.execute(
                    "DELETE FROM activity WHERE at < ?", [activity_before]
                ).rowcount,
                "inactivity": self.db.execute(
                    "DELETE FROM seen WHERE source = ? AND seen_at < ?",
                    [INACTIVITY_SEEN, activity_before],
                ).rowcount,
            }
