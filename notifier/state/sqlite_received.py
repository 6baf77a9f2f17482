"""The received keys of the SQLite store's inbox: a verified webhook is recorded once
per (kind, key), so replaying a captured body cannot grow the store (contract section
10). The key and the inbox row are written in one transaction, synced as `inbox_add`
syncs (`synchronous = FULL`): a webhook answered 200 survives a crash of the machine.
"""

from __future__ import annotations

from collections.abc import Sequence

from notifier.state.sqlite_conn import SqlitePart


class SqliteReceived(SqlitePart):
    """The received keys of `store.inbox` (mixed into `SqliteInbox`)."""

    def inbox_receive(self, items: Sequence[tuple[str, str, str]], now: float) -> list[int]:
        if not items:
            return []
        self.db.execute("PRAGMA synchronous = FULL")
        try:
            with self.db.atomic():
                ids = []
                for kind, key, body in items:
                    fresh = self.db.conn.execute(
                        "INSERT OR IGNORE INTO inbox_received(kind, key, received_at) "
                        "VALUES (?, ?, ?)",
                        [kind, key, now],
                    )
                    if fresh.rowcount != 1:
                        continue  # received before: answered, not stored again
                    cursor = self.db.conn.execute(
                        "INSERT INTO inbox(kind, body, received_at, status, tries, next_at) "
                        "VALUES (?, ?, ?, 'pending', 0, ?)",
                        [kind, body, now, now],
                    )
                    ids.append(int(cursor.lastrowid or 0))
        finally:
            self.db.execute("PRAGMA synchronous = NORMAL")
        return ids

    def inbox_prune_received(self, before: float) -> int:
        with self.db.atomic():
            cursor = self.db.execute("DELETE FROM inbox_received WHERE received_at < ?", [before])
        return cursor.rowcount
