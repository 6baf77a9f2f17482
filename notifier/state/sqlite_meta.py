"""The meta half of the SQLite store: the schema version and the sources' baselines
(key/value rows), and pruning what can no longer matter."""

from __future__ import annotations

from notifier.state.rows import first
from notifier.state.sqlite_conn import ImmediateDatabase, SqlitePart
from notifier.state.sqlite_history import INACTIVITY_SEEN


def read_meta(db: ImmediateDatabase, key: str) -> str | None:
    row = first(db.execute("SELECT value FROM meta WHERE key = ?", [key]))
    return None if row is None else row["value"]


def write_meta(db: ImmediateDatabase, key: str, value: str) -> None:
    """Inside the caller's transaction (`record`'s baseline, a migration's version)."""
    db.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


class SqliteMeta(SqlitePart):
    """`store.meta` (notifier.state.base.Meta)."""

    def get_meta(self, key: str) -> str | None:
        return read_meta(self.db, key)

    def set_meta(self, key: str, value: str) -> None:
        with self.db.atomic():
            write_meta(self.db, key, value)

    def prune(
        self, *, seen_before: float, sent_before: float, dead_before: float
    ) -> dict[str, int]:
        """Forget what can no longer matter, so the store stays bounded over months:
        seen keys older than any poll can reach again, sent deliveries as old, dead
        deliveries never replayed (kept 30 days by the caller), stale cache entries."""
        with self.db.atomic():
            for status, before in (("sent", sent_before), ("dead", dead_before)):
                self.db.execute(  # a delivery's tries go with it
                    "DELETE FROM outbox_tries WHERE delivery IN (SELECT id FROM outbox "
                    "WHERE status = ? AND updated_at < ?)",
                    [status, before],
                )
            counts = {
                "seen": self.db.execute(
                    "DELETE FROM seen WHERE seen_at < ? AND source != ?",
                    [seen_before, INACTIVITY_SEEN],
                ).rowcount,
                "sent": self.db.execute(
                    "DELETE FROM outbox WHERE status = 'sent' AND updated_at < ?", [sent_before]
                ).rowcount,
                "dead": self.db.execute(
                    "DELETE FROM outbox WHERE status = 'dead' AND updated_at < ?", [dead_before]
                ).rowcount,
                "cache": self.db.execute(
                    "DELETE FROM state WHERE scope = 'lookups' AND updated_at < ?", [dead_before]
                ).rowcount,
            }
        return counts

    def compact(self) -> int:
        """The pages pruning freed, given back to the file system: incremental
        auto-vacuum (schema 13) moves pages from the end of the file into free ones and
        truncates it, a write transaction of its own (readers carry on in WAL mode). A
        store whose auto-vacuum is off (made before schema 13, if its one VACUUM did
        not run) reuses its free pages instead, so it does not grow either. The pragma
        frees one page per step, and only `executescript` steps a statement to its end
        (it commits first, so it runs outside `atomic()`, in the write queue)."""
        self.db.write_lock.acquire()
        try:
            free = int(self.db.execute("PRAGMA freelist_count").fetchone()[0])
            self.db.conn.executescript("PRAGMA incremental_vacuum")
            return free - int(self.db.execute("PRAGMA freelist_count").fetchone()[0])
        finally:
            self.db.write_lock.release()
