"""The console's read questions on PostgreSQL (`store.console`); the twin of
`sqlite_console`."""

from __future__ import annotations

from notifier.state.people import (
    ALERT_COLUMNS,
    AlertFilter,
    AlertRow,
    HourRow,
    StudentRow,
    TimelineRow,
    TryRow,
)
from notifier.state.postgres_conn import PostgresConnection
from notifier.state.rows import first_as, named, named_as
from notifier.state.sqlite_console import TIMELINE, like

# A student by user id or by email: the first alert's, in indexed columns (schema 13).
BY_ID = "user_id = %s"
BY_EMAIL = "email = lower(%s)"


class PostgresConsoleReads:
    def __init__(self, conn: PostgresConnection):
        self.conn = conn

    def alerts(self, where: AlertFilter, *, limit: int, offset: int) -> list[AlertRow]:
        parts: list[str] = []
        args: list[object] = []
        for column, value in (
            ("status", where.status),
            ("rule", where.rule),
            ("channel", where.channel),
        ):
            if value is not None:
                parts.append(f"{column} = %s")
                args.append(value)
        if where.since is not None:
            parts.append("created_at >= %s")
            args.append(where.since)
        if where.until is not None:
            parts.append("created_at < %s")
            args.append(where.until)
        if where.student is not None:
            parts.append(BY_EMAIL if "@" in where.student else BY_ID)
            args.append(where.student)
        sql = (
            f"SELECT {', '.join(ALERT_COLUMNS)} FROM outbox"
            + (" WHERE " + " AND ".join(parts) if parts else "")
            + " ORDER BY created_at DESC, seq DESC LIMIT %s OFFSET %s"
        )
        return named_as(AlertRow, self.conn.db().execute(sql, [*args, limit, offset]))

    def alert(self, delivery_id: str) -> AlertRow | None:
        return first_as(
            AlertRow,
            self.conn.db().execute(
                f"SELECT {', '.join(ALERT_COLUMNS)} FROM outbox WHERE id = %s", [delivery_id]
            ),
        )

    def tries(self, delivery_id: str) -> list[TryRow]:
        return named_as(
            TryRow,
            self.conn.db().execute(
                "SELECT number, at, outcome, answer, error FROM outbox_tries "
                "WHERE delivery = %s ORDER BY number",
                [delivery_id],
            ),
        )

    def hourly(self, since: float) -> list[HourRow]:
        return named_as(
            HourRow,
            self.conn.db().execute(
                "SELECT rule, FLOOR(created_at / 3600)::BIGINT AS hour, COUNT(*) AS n "
                "FROM outbox WHERE created_at >= %s GROUP BY rule, hour ORDER BY rule, hour",
                [since],
            ),
        )

    def rule_counts(self, since: float) -> dict[str, dict[str, int]]:
        rows = named(
            self.conn.db().execute(
                "SELECT rule, COUNT(DISTINCT event || ':' || event_key) AS matches, "
                "COUNT(*) AS deliveries, COUNT(*) FILTER (WHERE status = 'sent') AS sent, "
                "COUNT(*) FILTER (WHERE status = 'dead') AS dead "
                "FROM outbox WHERE created_at >= %s GROUP BY rule",
                [since],
            )
        )
        return {r.pop("rule"): {k: int(v or 0) for k, v in r.items()} for r in rows}

    def students(self, text: str, limit: int) -> list[StudentRow]:
        pattern = like(text)
        return named_as(
            StudentRow,
            self.conn.db().execute(
                "SELECT user_id, student, email, at, kind, title FROM activity "
                "WHERE user_id = %s OR lower(COALESCE(student, '')) LIKE %s ESCAPE '\\' "
                "OR lower(COALESCE(email, '')) LIKE %s ESCAPE '\\' ORDER BY at DESC LIMIT %s",
                [text.strip(), pattern, pattern, limit],
            ),
        )

    def student(self, user_id: str) -> StudentRow | None:
        return first_as(
            StudentRow,
            self.conn.db().execute(
                "SELECT user_id, student, email, at, kind, title FROM activity WHERE user_id = %s",
                [user_id],
            ),
        )

    def timeline(self, user_id: str, limit: int) -> list[TimelineRow]:
        return named_as(
            TimelineRow, self.conn.db().execute(TIMELINE.replace("?", "%s"), [user_id, limit])
        )
