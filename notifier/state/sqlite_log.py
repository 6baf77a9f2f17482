"""What was sent, for people: the SQLite store's read-only questions about deliveries
(`notifier deliveries`, `status`, `replay ID`), and forgetting the poll error of a
source no rule uses any more. New queries only: the outbox's own transitions stay in
`sqlite_outbox`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from notifier.state.base import DELIVERY_COLUMNS
from notifier.state.packed import with_alerts_text
from notifier.state.rows import Row, named
from notifier.state.sqlite_conn import SqlitePart


class SqliteDeliveryLog(SqlitePart):
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
        """Deliveries newest first (by when they were queued), filtered."""
        where, args = _filters(status=status, rule=rule, channel=channel, since=since)
        sql = (
            f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM outbox{where} "
            "ORDER BY created_at DESC, rowid DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [with_alerts_text(r) for r in named(self.db.execute(sql, args))]

    def delivery_statuses(self, ids: Iterable[str]) -> dict[str, str]:
        """The status of each of these deliveries that exists."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = named(
                self.db.execute(f"SELECT id, status FROM outbox WHERE id IN ({marks})", chunk)
            )
            found.update((row["id"], row["status"]) for row in rows)
        return found

    def clear_source_errors(self, keep: Iterable[str]) -> int:
        """Forget the last poll error of every source not in `keep` (no rule uses it
        any more): `status` stops showing a problem nothing will ever retry."""
        kept = sorted(set(keep))
        marks = ", ".join("?" for _ in kept) or "NULL"
        with self.db.atomic():
            cursor = self.db.execute(
                f"UPDATE source_status SET last_error = NULL "
                f"WHERE last_error IS NOT NULL AND source NOT IN ({marks})",
                kept,
            )
        return cursor.rowcount


def _filters(
    *, status: str | None, rule: str | None, channel: str | None, since: float | None
) -> tuple[str, list[object]]:
    parts: list[str] = []
    args: list[object] = []
    for column, value in (("status", status), ("rule", rule), ("channel", channel)):
        if value is not None:
            parts.append(f"{column} = ?")
            args.append(value)
    if since is not None:
        parts.append("created_at >= ?")
        args.append(since)
    return (" WHERE " + " AND ".join(parts) if parts else ""), args
