"""The "no poison" half of the PostgreSQL store (contract section 7), as SQLite's
(notifier.state.sqlite_faults): rows that failed in processing, counted, retried with
backoff and set aside as dead after FAULT_TRIES, without holding back their neighbours."""

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
from notifier.state.postgres_conn import PostgresPart
from notifier.state.rows import first, named


class PostgresFaults(PostgresPart):
    """`store.faults` (notifier.state.base.Faults)."""

    def inbox_dead(self, ids: Iterable[int], now: float, error: str) -> None:
        self.pg.db().execute(
            "UPDATE inbox SET status = 'dead', tries = tries + 1, done_at = %s, "
            "last_error = %s WHERE id = ANY(%s)",
            [now, error[:500], list(ids)],
        )

    def outbox_faulted(self, ids: Iterable[str], *, now: float, error: str) -> bool:
        rows = named(
            self.pg.db().execute(
                "UPDATE outbox SET faults = faults + 1, "
                "status = CASE WHEN faults + 1 >= %(n)s THEN 'dead' ELSE 'retrying' END, "
                "next_at = CASE WHEN faults + 1 >= %(n)s THEN %(now)s "
                "ELSE %(now)s + %(first)s * (1 << faults) END, updated_at = %(now)s, "
                "claimed_until = NULL, claimed_by = NULL, last_error = %(error)s "
                "WHERE id = ANY(%(ids)s) RETURNING status",
                {
                    "n": FAULT_TRIES,
                    "now": now,
                    "first": FAULT_FIRST_SECONDS,
                    "error": error[:500],
                    "ids": list(ids),
                },
            )
        )
        return any(r["status"] == "dead" for r in rows)

    def record_faults(self, source: str, keys: Iterable[str]) -> dict[str, RecordFault]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        rows = named(
            self.pg.db().execute(
                "SELECT key, tries, status, next_at, last_error FROM record_faults "
                "WHERE source = %s AND key = ANY(%s)",
                [source, wanted],
            )
        )
        return {r["key"]: record_fault_of(r) for r in rows}

    def record_fault(self, source: str, key: str, *, now: float, error: str) -> RecordFault:
        with self.pg.tx() as conn:
            row = first(
                conn.execute(
                    "SELECT tries FROM record_faults WHERE source = %s AND key = %s FOR UPDATE",
                    [source, key],
                )
            )
            tries = (row["tries"] if row else 0) + 1
            next_at = fault_retry_at(tries, now)
            fault = RecordFault(
                tries, "dead" if next_at is None else "retrying", next_at or now, error[:500]
            )
            conn.execute(
                "INSERT INTO record_faults (source, key, tries, status, next_at, failed_at, "
                "last_error) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (source, key) "
                "DO UPDATE SET tries = EXCLUDED.tries, status = EXCLUDED.status, "
                "next_at = EXCLUDED.next_at, failed_at = EXCLUDED.failed_at, "
                "last_error = EXCLUDED.last_error",
                [source, key, tries, fault.status, fault.next_at, now, fault.error],
            )
        return fault

    def record_faults_clear(self, source: str, keys: Iterable[str]) -> None:
        self.pg.db().execute(
            "DELETE FROM record_faults WHERE source = %s AND key = ANY(%s)", [source, list(keys)]
        )

    def poisoned_counts(self) -> dict[str, int]:
        one = first(self.pg.db().execute(POISONED_COUNTS.replace("?", "%s"), [FAULT_TRIES]))
        assert one is not None
        return {table: int(one[table]) for table in POISON_TABLES}

    def poisoned(self, limit: int = 20) -> list[PoisonedRow]:
        rows = named(
            self.pg.db().execute(
                "SELECT * FROM ("
                "SELECT 'inbox' AS t, kind || ' ' || id AS id, tries, last_error, done_at AS at "
                "FROM inbox WHERE status = 'dead' "
                "UNION ALL SELECT 'outbox', id, faults, last_error, updated_at FROM outbox "
                "WHERE status = 'dead' AND faults >= %s "
                "UNION ALL SELECT 'records', source || ' ' || key, tries, last_error, failed_at "
                "FROM record_faults WHERE status = 'dead') AS p ORDER BY at DESC LIMIT %s",
                [FAULT_TRIES, limit],
            )
        )
        return [poisoned_row(r) for r in rows]

    def prune_poisoned(self, before: float) -> int:
        with self.pg.tx() as conn:
            inbox = conn.execute(
                "DELETE FROM inbox WHERE status = 'dead' AND done_at < %s", [before]
            ).rowcount
            records = conn.execute(
                "DELETE FROM record_faults WHERE failed_at < %s", [before]
            ).rowcount
        return max(0, inbox) + max(0, records)
