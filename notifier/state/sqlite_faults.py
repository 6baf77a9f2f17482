"""The "no poison" half of the SQLite store (contract section 7): rows that failed in
processing, counted, retried with backoff and set aside as dead after FAULT_TRIES,
without holding back the rows around them (notifier.state.base.Faults)."""

from __future__ import annotations

from collections.abc import Iterable

from notifier.state.base import (
    FAULT_FIRST_SECONDS,
    FAULT_TRIES,
    POISON_TABLES,
    POISONED_COUNTS,
    PoisonedRow,
    RecordFault,
    fault_retry_at,
    poisoned_row,
    record_fault_of,
)
from notifier.state.rows import first, named
from notifier.state.sqlite_conn import SqlitePart


class SqliteFaults(SqlitePart):
    """`store.faults` (notifier.state.base.Faults)."""

    def inbox_dead(self, ids: Iterable[int], now: float, error: str) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE inbox SET status = 'dead', tries = tries + 1, done_at = ?, "
                "last_error = ? WHERE id = ?",
                [(now, error[:500], i) for i in ids],
            )

    def outbox_faulted(self, ids: Iterable[str], *, now: float, error: str) -> bool:
        dead = False
        with self.db.atomic():
            for id_ in ids:
                row = first(
                    self.db.execute(
                        "UPDATE outbox SET faults = faults + 1, "
                        "status = CASE WHEN faults + 1 >= :n THEN 'dead' ELSE 'retrying' END, "
                        "next_at = CASE WHEN faults + 1 >= :n THEN :now "
                        "ELSE :now + :first * (1 << faults) END, "
                        "updated_at = :now, claimed_until = NULL, last_error = :error "
                        "WHERE id = :id RETURNING status",
                        {
                            "n": FAULT_TRIES,
                            "now": now,
                            "first": FAULT_FIRST_SECONDS,
                            "error": error[:500],
                            "id": id_,
                        },
                    )
                )
                dead = dead or (row is not None and row["status"] == "dead")
        return dead

    def record_faults(self, source: str, keys: Iterable[str]) -> dict[str, RecordFault]:
        wanted = set(keys)
        if not wanted:
            return {}
        rows = named(
            self.db.execute(
                "SELECT key, tries, status, next_at, last_error FROM record_faults "
                "WHERE source = ?",
                [source],
            )
        )
        return {r["key"]: record_fault_of(r) for r in rows if r["key"] in wanted}

    def record_fault(self, source: str, key: str, *, now: float, error: str) -> RecordFault:
        with self.db.atomic():
            row = first(
                self.db.execute(
                    "SELECT tries FROM record_faults WHERE source = ? AND key = ?", [source, key]
                )
            )
            tries = (row["tries"] if row else 0) + 1
            next_at = fault_retry_at(tries, now)
            fault = RecordFault(
                tries, "dead" if next_at is None else "retrying", next_at or now, error[:500]
            )
            self.db.execute(
                "INSERT INTO record_faults (source, key, tries, status, next_at, failed_at, "
                "last_error) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, key) DO UPDATE "
                "SET tries = excluded.tries, status = excluded.status, "
                "next_at = excluded.next_at, failed_at = excluded.failed_at, "
                "last_error = excluded.last_error",
                [source, key, tries, fault.status, fault.next_at, now, fault.error],
            )
        return fault

    def record_faults_clear(self, source: str, keys: Iterable[str]) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                "DELETE FROM record_faults WHERE source = ? AND key = ?",
                [(source, k) for k in keys],
            )

    def poisoned_counts(self) -> dict[str, int]:
        one = first(self.db.execute(POISONED_COUNTS, [FAULT_TRIES]))
        assert one is not None
        return {table: one[table] for table in POISON_TABLES}

    def poisoned(self, limit: int = 20) -> list[PoisonedRow]:
        rows = named(
            self.db.execute(
                "SELECT * FROM ("
                "SELECT 'inbox' AS t, kind || ' ' || id AS id, tries, last_error, done_at AS at "
                "FROM inbox WHERE status = 'dead' "
                "UNION ALL SELECT 'outbox', id, faults, last_error, updated_at FROM outbox "
                "WHERE status = 'dead' AND faults >= ? "
                "UNION ALL SELECT 'records', source || ' ' || key, tries, last_error, failed_at "
                "FROM record_faults WHERE status = 'dead') ORDER BY at DESC LIMIT ?",
                [FAULT_TRIES, limit],
            )
        )
        return [poisoned_row(r) for r in rows]

    def prune_poisoned(self, before: float) -> int:
        with self.db.atomic():
            inbox = self.db.execute(
                "DELETE FROM inbox WHERE status = 'dead' AND done_at < ?", [before]
            ).rowcount
            records = self.db.execute(
                "DELETE FROM record_faults WHERE failed_at < ?", [before]
            ).rowcount
        return max(0, inbox) + max(0, records)
