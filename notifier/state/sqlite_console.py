"""The console's read questions on SQLite (`store.console`): the alerts page's filtered,
paged list, one alert, the overview's alerts per hour, the rules page's counts, and
students with their timeline; the twin of `postgres_console`."""

from __future__ import annotations

from typing import cast

import sqlite_utils

from notifier.state.packed import with_alerts_text
from notifier.state.people import (
    ALERT_COLUMNS,
    AlertFilter,
    AlertRow,
    HourRow,
    StudentRow,
    TimelineRow,
    TryRow,
)
from notifier.state.rows import first, first_as, named, named_as

# A student by user id or by email: the first alert's, in columns of their own with an
# index each (schema 13: the alerts themselves are packed).
BY_ID = "user_id = ?"
BY_EMAIL = "email = lower(?)"


# A student's timeline through history's primary key (kind, subject, at, key): one
# search per kind kept (the kinds found by skipping along the key, a handful), then
# newest first. Schema 13 dropped the index on (subject, at) that this replaced: it
# held nearly a quarter of history's bytes, for this one page.
TIMELINE = (
    "WITH RECURSIVE kinds(kind) AS (SELECT MIN(kind) FROM history UNION ALL "
    "SELECT (SELECT MIN(h.kind) FROM history AS h WHERE h.kind > kinds.kind) FROM kinds "
    "WHERE kinds.kind IS NOT NULL) "
    "SELECT kind, at, key, data FROM history WHERE kind IN (SELECT kind FROM kinds) "
    "AND subject = ? ORDER BY at DESC LIMIT ?"
)


def like(text: str) -> str:
    """`text` as a LIKE pattern that finds it anywhere, its wildcards taken literally
    (ESCAPE '\\')."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# The week's rows by their time (`INDEXED BY`): grouped by rule, SQLite's planner would
# rather walk the whole outbox in `outbox_group`'s order (100 ms at 60,000 rows).


class SqliteConsoleReads:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def alerts(self, where: AlertFilter, *, limit: int, offset: int) -> list[AlertRow]:
        parts: list[str] = []
        args: list[object] = []
        for column, value in (
            ("status", where.status),
            ("rule", where.rule),
            ("channel", where.channel),
        ):
            if value is not None:
                parts.append(f"{column} = ?")
                args.append(value)
        if where.since is not None:
            parts.append("created_at >= ?")
            args.append(where.since)
        if where.until is not None:
            parts.append("created_at < ?")
            args.append(where.until)
        if where.student is not None:
            parts.append(BY_EMAIL if "@" in where.student else BY_ID)
            args.append(where.student)
        sql = (
            f"SELECT {', '.join(ALERT_COLUMNS)} FROM outbox"
            + (" WHERE " + " AND ".join(parts) if parts else "")
            + " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
        )
        rows = named(self.db.execute(sql, [*args, limit, offset]))
        return [cast(AlertRow, with_alerts_text(r)) for r in rows]

    def alert(self, delivery_id: str) -> AlertRow | None:
        row = first(
            self.db.execute(
                f"SELECT {', '.join(ALERT_COLUMNS)} FROM outbox WHERE id = ?", [delivery_id]
            ),
        )
        return None if row is None else cast(AlertRow, with_alerts_text(row))

    def tries(self, delivery_id: str) -> list[TryRow]:
        return named_as(
            TryRow,
            self.db.execute(
                "SELECT number, at, outcome, answer, error FROM outbox_tries "
                "WHERE delivery = ? ORDER BY number",
                [delivery_id],
            ),
        )

    def hourly(self, since: float) -> list[HourRow]:
        return named_as(
            HourRow,
            self.db.execute(
                "SELECT rule, CAST(created_at / 3600 AS INTEGER) AS hour, COUNT(*) AS n "
                "FROM outbox INDEXED BY outbox_created WHERE created_at >= ? "
                "GROUP BY rule, hour ORDER BY rule, hour",
                [since],
            ),
        )

    def rule_counts(self, since: float) -> dict[str, dict[str, int]]:
        rows = named(
            self.db.execute(
                "SELECT rule, COUNT(DISTINCT event || ':' || event_key) AS matches, "
                "COUNT(*) AS deliveries, SUM(status = 'sent') AS sent, "
                "SUM(status = 'dead') AS dead FROM outbox INDEXED BY outbox_created "
                "WHERE created_at >= ? GROUP BY rule",
                [since],
            )
        )
        return {r.pop("rule"): {k: int(v or 0) for k, v in r.items()} for r in rows}

    def students(self, text: str, limit: int) -> list[StudentRow]:
        pattern = like(text)
        return named_as(
            StudentRow,
            self.db.execute(
                "SELECT user_id, student, email, at, kind, title FROM activity "
                "WHERE user_id = ? OR lower(COALESCE(student, '')) LIKE ? ESCAPE '\\' "
                "OR lower(COALESCE(email, '')) LIKE ? ESCAPE '\\' ORDER BY at DESC LIMIT ?",
                [text.strip(), pattern, pattern, limit],
            ),
        )

    def student(self, user_id: str) -> StudentRow | None:
        return first_as(
            StudentRow,
            self.db.execute(
                "SELECT user_id, student, email, at, kind, title FROM activity WHERE user_id = ?",
                [user_id],
            ),
        )

    def timeline(self, user_id: str, limit: int) -> list[TimelineRow]:
        return named_as(TimelineRow, self.db.execute(TIMELINE, [user_id, limit]))
