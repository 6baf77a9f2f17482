"""The rules' versions on PostgreSQL (`store.rules`), the twin of `sqlite_rules`. Every
replica reads the active number from the same table each cycle, so a version saved on
one replica is taken up by all of them at their next cycle."""

from __future__ import annotations

from notifier.state.postgres_conn import PostgresPart
from notifier.state.rows import first, named
from notifier.state.rules_base import (
    RULES_COLUMNS,
    RULES_LOCK,
    SLOT_SECONDS,
    RulesVersion,
    SentCount,
    VersionChanged,
    version_of,
)


class PostgresRules(PostgresPart):
    """`store.rules` on PostgreSQL: a class of its own on the store's connection."""

    def active_number(self) -> int | None:
        row = first(self.pg.db().execute("SELECT number FROM rules_versions WHERE active = 1"))
        return None if row is None else int(row["number"])

    def active(self) -> RulesVersion | None:
        row = first(
            self.pg.db().execute(f"SELECT {RULES_COLUMNS} FROM rules_versions WHERE active = 1")
        )
        return None if row is None else version_of(row)

    def get(self, number: int) -> RulesVersion | None:
        row = first(
            self.pg.db().execute(
                f"SELECT {RULES_COLUMNS} FROM rules_versions WHERE number = %s", [number]
            )
        )
        return None if row is None else version_of(row)

    def listed(self) -> list[RulesVersion]:
        rows = named(
            self.pg.db().execute(f"SELECT {RULES_COLUMNS} FROM rules_versions ORDER BY number DESC")
        )
        return [version_of(r) for r in rows]

    def add(
        self,
        yaml: str,
        *,
        author: str,
        note: str,
        at: float,
        expected_active: int | None = None,
        first_only: bool = False,
        tests: str | None = None,
    ) -> RulesVersion | None:
        with self.pg.tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", [RULES_LOCK])
            top = first(
                db.execute(
                    "SELECT MAX(number) AS top, MAX(CASE WHEN active = 1 THEN number END) "
                    "AS active FROM rules_versions"
                )
            )
            assert top is not None  # an aggregate always returns a row
            if first_only and top["top"] is not None:
                return None
            if expected_active is not None and top["active"] != expected_active:
                raise VersionChanged(expected_active, top["active"])
            number = int(top["top"] or 0) + 1
            db.execute("UPDATE rules_versions SET active = 0 WHERE active = 1")
            db.execute(
                "INSERT INTO rules_versions "
                "(number, author, created_at, note, yaml, active, tests) "
                "VALUES (%s, %s, %s, %s, %s, 1, %s)",
                [number, author, at, note, yaml, tests],
            )
        return RulesVersion(number, author, at, note, yaml, True, tests)

    def sent_counts(self, since: float) -> list[SentCount]:
        rows = named(
            self.pg.db().execute(
                "SELECT rule, channel, FLOOR(created_at / %s)::BIGINT AS slot, COUNT(*) AS n "
                "FROM outbox WHERE created_at >= %s GROUP BY rule, channel, slot",
                [SLOT_SECONDS, since],
            )
        )
        return [
            SentCount(r["rule"], r["channel"], float(r["slot"]) * SLOT_SECONDS, int(r["n"]))
            for r in rows
        ]


__all__ = ["PostgresRules"]
