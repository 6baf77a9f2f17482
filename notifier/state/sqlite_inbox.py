"""The inbox half of the SQLite store: Testpress's pushed webhooks, written durably
before they are answered, processed by the run loop.

`inbox_add` commits with `synchronous = FULL` (the WAL is synced before it returns):
the rest of the store runs at NORMAL, which survives a crash of the process but not
of the machine; a webhook answered 200 must survive both, since Testpress will not
send it again. Callers batch payloads that arrive together into one call, so a burst
costs one sync, not one a payload.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from notifier.state.base import InboxRow
from notifier.state.rows import named
from notifier.state.sqlite_received import SqliteReceived


class SqliteInbox(SqliteReceived):
    """`store.inbox` (notifier.state.base.Inbox), with its received keys (`SqliteReceived`)."""

    def inbox_add(self, items: Sequence[tuple[str, str]], now: float) -> list[int]:
        if not items:
            return []
        self.db.execute("PRAGMA synchronous = FULL")
        try:
            with self.db.atomic():
                ids = []
                for kind, body in items:
                    cursor = self.db.conn.execute(
                        "INSERT INTO inbox(kind, body, received_at, status, tries, next_at) "
                        "VALUES (?, ?, ?, 'pending', 0, ?)",
                        [kind, body, now, now],
                    )
                    ids.append(int(cursor.lastrowid or 0))
        finally:
            self.db.execute("PRAGMA synchronous = NORMAL")
        return ids

    def inbox_pending(self, now: float, limit: int = 500) -> list[InboxRow]:
        rows = named(
            self.db.execute(
                "SELECT id, kind, body, received_at, tries FROM inbox "
                "WHERE status = 'pending' AND next_at <= ? ORDER BY id LIMIT ?",
                [now, limit],
            )
        )
        return [InboxRow(**r) for r in rows]

    def inbox_done(self, ids: Iterable[int], now: float, error: str | None = None) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE inbox SET status = 'done', done_at = ?, last_error = ? WHERE id = ?",
                [(now, None if error is None else error[:500], i) for i in ids],
            )

    def inbox_retry(self, ids: Iterable[int], *, now: float, next_at: float, error: str) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE inbox SET tries = tries + 1, next_at = ?, last_error = ? WHERE id = ?",
                [(next_at, error[:500], i) for i in ids],
            )

    def inbox_prune(self, done_before: float) -> int:
        with self.db.atomic():
            cursor = self.db.execute(
                "DELETE FROM inbox WHERE status = 'done' AND done_at < ?", [done_before]
            )
        return cursor.rowcount
