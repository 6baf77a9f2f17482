"""What people do to alerts, on PostgreSQL: the twins of `sqlite_actions`, each a class
of its own holding the store's connection. The follow-up's primary key makes the first
one win across replicas (`ON CONFLICT DO NOTHING`); a mute is read from the database
each time the mute stage asks, so every replica honours it as soon as it is written."""

from __future__ import annotations

import time
from datetime import datetime

from notifier.state.actions_base import (
    AUDIT_COLUMNS,
    DELIVERY_RECORD_COLUMNS,
    FOLLOW_UP_COLUMNS,
    MUTE_COLUMNS,
    REPLAYED,
    SAME_MUTE_SECONDS,
    AuditEntry,
    DeliveryRecord,
    FollowUpRecord,
    MuteRecord,
    audit_of,
    delivery_of,
    follow_up_of,
    follow_up_values,
    mute_of,
    mute_values,
)
from notifier.state.postgres_conn import PostgresPart
from notifier.state.rows import first, named

_MUTE_LOCK = 0x6D757465  # two replicas handling one click twice add one mute
_MUTE_MARKS = ", ".join(["%s"] * len(MUTE_COLUMNS.split(",")))
_FOLLOW_UP_MARKS = ", ".join(["%s"] * len(FOLLOW_UP_COLUMNS.split(",")))


class PostgresMutes(PostgresPart):
    """`store.mutes` on PostgreSQL."""

    def add(self, mute: MuteRecord) -> tuple[MuteRecord, bool]:
        with self.pg.tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", [_MUTE_LOCK])  # repeated clicks
            same = first(
                db.execute(
                    f"SELECT {MUTE_COLUMNS} FROM mutes WHERE student IS NOT DISTINCT FROM %s "
                    "AND rule IS NOT DISTINCT FROM %s AND channel IS NOT DISTINCT FROM %s "
                    "AND made_by = %s AND ended_at IS NULL AND until > %s "
                    "AND created_at >= %s ORDER BY created_at DESC LIMIT 1",
                    [
                        mute.student,
                        mute.rule,
                        mute.channel,
                        mute.by,
                        mute.created_at,
                        mute.created_at - SAME_MUTE_SECONDS,
                    ],  # fmt: skip
                )
            )
            if same is not None:
                return mute_of(same), False
            db.execute(
                f"INSERT INTO mutes ({MUTE_COLUMNS}) VALUES ({_MUTE_MARKS})", mute_values(mute)
            )
        return mute, True

    def get(self, mute_id: str) -> MuteRecord | None:
        row = first(
            self.pg.db().execute(f"SELECT {MUTE_COLUMNS} FROM mutes WHERE id = %s", [mute_id])
        )
        return None if row is None else mute_of(row)

    def lift(self, mute_id: str, *, now: float, by: str) -> tuple[MuteRecord | None, bool]:
        with self.pg.tx() as db:
            changed = db.execute(
                "UPDATE mutes SET ended_at = %s, ended_by = %s "
                "WHERE id = %s AND ended_at IS NULL AND until > %s",
                [now, by, mute_id, now],
            ).rowcount
        return self.get(mute_id), changed == 1

    def active(self, now: float) -> list[MuteRecord]:
        rows = named(
            self.pg.db().execute(
                f"SELECT {MUTE_COLUMNS} FROM mutes WHERE ended_at IS NULL AND until > %s "
                "ORDER BY created_at",
                [now],
            )
        )
        return [mute_of(r) for r in rows]

    def listed(self, now: float, ended_since: float) -> list[MuteRecord]:
        rows = named(
            self.pg.db().execute(
                f"SELECT {MUTE_COLUMNS} FROM mutes WHERE "
                "LEAST(COALESCE(ended_at, until), until) > %s ORDER BY created_at DESC, id",
                [min(now, ended_since)],
            )
        )
        return [mute_of(r) for r in rows]

    def changed_since(self, since: float, now: float) -> list[MuteRecord]:
        rows = named(
            self.pg.db().execute(
                f"SELECT {MUTE_COLUMNS} FROM mutes WHERE created_at >= %s OR ended_at >= %s "
                "OR (until >= %s AND until <= %s) ORDER BY created_at, id",
                [since, since, since, now],
            )
        )
        return [mute_of(r) for r in rows]

    def hold(self, held: dict[str, str], now: float) -> None:
        with self.pg.tx() as db, db.cursor() as cursor:
            cursor.executemany(
                "UPDATE outbox SET status = 'muted', mute_id = %s, last_error = %s, "
                "updated_at = %s, claimed_until = NULL WHERE id = %s",
                [(mute, f"muted by {mute}", now, id_) for id_, mute in held.items()],
            )

    def release(self, ids: list[str], now: float) -> int:
        count = 0
        with self.pg.tx() as db:
            for id_ in ids:
                count += db.execute(
                    "UPDATE outbox SET status = 'queued', next_at = %s, created_at = %s, "
                    "attempts = 0, faults = 0, claimed_until = NULL, last_error = NULL, "
                    "mute_id = %s WHERE status = 'muted' AND id = %s",
                    [now, now, REPLAYED, id_],
                ).rowcount
        return count

    def replayed(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        marks = ", ".join(["%s"] * len(ids))
        rows = named(
            self.pg.db().execute(
                f"SELECT id FROM outbox WHERE mute_id = %s AND id IN ({marks})",
                [REPLAYED, *ids],
            )
        )
        return {r["id"] for r in rows}

    def prune(self, before: float) -> int:
        with self.pg.tx() as db:
            count = db.execute(
                "DELETE FROM mutes WHERE LEAST(COALESCE(ended_at, until), until) < %s",
                [before],
            ).rowcount
            db.execute(  # a held row's earlier tries go with it
                "DELETE FROM outbox_tries WHERE delivery IN (SELECT id FROM outbox "
                "WHERE status = 'muted' AND updated_at < %s)",
                [before],
            )
            count += db.execute(
                "DELETE FROM outbox WHERE status = 'muted' AND updated_at < %s", [before]
            ).rowcount
        return int(count)


class PostgresFollowUps(PostgresPart):
    """`store.follow_ups` on PostgreSQL: the delivery is the primary key, so the first
    insert wins and every later one is ignored."""

    def claim(self, follow_up: FollowUpRecord) -> tuple[FollowUpRecord, bool]:
        with self.pg.tx() as db:
            added = db.execute(
                f"INSERT INTO follow_ups ({FOLLOW_UP_COLUMNS}) "
                f"VALUES ({_FOLLOW_UP_MARKS}) ON CONFLICT (delivery) DO NOTHING",
                follow_up_values(follow_up),
            ).rowcount
        kept = self.get(follow_up.delivery)
        if kept is None:  # cannot happen: the row was there or just written
            raise RuntimeError(f"follow-up of {follow_up.delivery} not kept")
        return kept, added == 1

    def get(self, delivery: str) -> FollowUpRecord | None:
        row = first(
            self.pg.db().execute(
                f"SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE delivery = %s", [delivery]
            )
        )
        return None if row is None else follow_up_of(row)

    def since(self, since: float) -> list[FollowUpRecord]:
        rows = named(
            self.pg.db().execute(
                f"SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE at >= %s ORDER BY at, delivery",
                [since],
            )
        )
        return [follow_up_of(r) for r in rows]

    def delivery(self, delivery_id: str) -> DeliveryRecord | None:
        row = first(
            self.pg.db().execute(
                f"SELECT {DELIVERY_RECORD_COLUMNS} FROM outbox WHERE id = %s", [delivery_id]
            )
        )
        return None if row is None else delivery_of(row)

    def message_rows(self, message_ref: str) -> list[DeliveryRecord]:
        rows = named(
            self.pg.db().execute(
                f"SELECT {DELIVERY_RECORD_COLUMNS} FROM outbox WHERE message_ref = %s "
                "ORDER BY created_at, seq",
                [message_ref],
            )
        )
        return [delivery_of(r) for r in rows]

    def name_message(self, message: str, ids: list[str]) -> None:
        with self.pg.tx() as db, db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO message_rows (message, delivery) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                [(message, id_) for id_ in ids],
            )

    def message_of(self, delivery_id: str) -> str | None:
        row = first(
            self.pg.db().execute(
                "SELECT message FROM message_rows WHERE delivery = %s ORDER BY message LIMIT 1",
                [delivery_id],
            )
        )
        return None if row is None else str(row["message"])

    def message_members(self, message: str) -> list[DeliveryRecord]:
        columns = ", ".join(f"o.{c.strip()}" for c in DELIVERY_RECORD_COLUMNS.split(","))
        rows = named(
            self.pg.db().execute(
                f"SELECT {columns} FROM message_rows AS m JOIN outbox AS o ON o.id = m.delivery "
                "WHERE m.message = %s ORDER BY o.created_at, o.seq",
                [message],
            )
        )
        return [delivery_of(r) for r in rows]

    def prune(self, before: float) -> int:
        with self.pg.tx() as db:
            count = db.execute("DELETE FROM follow_ups WHERE at < %s", [before]).rowcount
            count += db.execute(
                "DELETE FROM message_rows WHERE NOT EXISTS "
                "(SELECT 1 FROM outbox WHERE outbox.id = message_rows.delivery)"
            ).rowcount
        return int(count)


class PostgresAudit(PostgresPart):
    """`store.audit` on PostgreSQL."""

    def add(
        self,
        by: str,
        source: str,
        action: str,
        target: str,
        detail: str,
        *,
        at: float | None = None,
    ) -> None:
        with self.pg.tx() as db:
            db.execute(
                "INSERT INTO audit (at, actor, source, action, target, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [time.time() if at is None else at, by, source, action, target, detail],
            )

    def recent(self, limit: int = 100, before: datetime | None = None) -> list[AuditEntry]:
        where = "" if before is None else " WHERE at < %s"
        args: list[float | int] = [] if before is None else [before.timestamp()]
        rows = named(
            self.pg.db().execute(
                f"SELECT {AUDIT_COLUMNS} FROM audit{where} ORDER BY at DESC, id DESC LIMIT %s",
                [*args, limit],
            )
        )
        return [audit_of(r) for r in rows]


__all__ = ["PostgresAudit", "PostgresFollowUps", "PostgresMutes"]
