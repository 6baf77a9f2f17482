"""What was sent, for people: the PostgreSQL store's read-only questions about
deliveries (`notifier deliveries`, `status`, `replay ID`), and forgetting the poll error
of a source no rule uses any more; the twin of `sqlite_log`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from notifier.state.base import DELIVERY_COLUMNS
from notifier.state.postgres_conn import PostgresPart
from notifier.state.rows import Row, named


class PostgresDeliveryLog(PostgresPart):
    """`store.log` (notifier.state.base.DeliveryLog)."""

    def delivery_list(
        self,
        *,
        status: str | None = None,
        rule: str | None = None,
        channel: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> Sequence[Row]:
        """Deliveries newest first (by when they were queued, then queue order)."""
        parts: list[str] = []
        args: list[object] = []
        for column, value in (("status", status), ("rule", rule), ("channel", channel)):
            if value is not None:
                parts.append(f"{column} = %s")
                args.append(value)
        if since is not None:
            parts.append("created_at >= %s")
            args.append(since)
        where = " WHERE " + " AND ".join(parts) if parts else ""
        sql = (
            f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM outbox{where} "
            "ORDER BY created_at DESC, seq DESC"
        )
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        return named(self.pg.db().execute(sql, args))

    def delivery_statuses(self, ids: Iterable[str]) -> dict[str, str]:
        """The status of each of these deliveries that exists."""
        rows = named(
            self.pg.db().execute(
                "SELECT id, status FROM outbox WHERE id = ANY(%s)", [list(dict.fromkeys(ids))]
            )
        )
        return {row["id"]: row["status"] for row in rows}

    def clear_source_errors(self, keep: Iterable[str]) -> int:
        """Forget the last poll error of every source not in `keep` (no rule uses it
        any more)."""
        cursor = self.pg.db().execute(
            "UPDATE source_status SET last_error = NULL "
            "WHERE last_error IS NOT NULL AND NOT (source = ANY(%s))",
            [sorted(set(keep))],
        )
        return max(0, cursor.rowcount)
