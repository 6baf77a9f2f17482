"""What people do to alerts, on SQLite: mutes, follow-ups and the audit log, each a
class of its own holding the store's connection (`store.mutes`, `store.follow_ups`,
`store.audit`). The twins are in `postgres_actions`; the protocols in `actions_base`."""

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
from notifier.state.rows import first, named
from notifier.state.sqlite_conn import SqlitePart

_MUTE_MARKS = ", ".join("?" * len(MUTE_COLUMNS.split(",")))
_FOLLOW_UP_MARKS = ", ".join("?" * len(FOLLOW_UP_COLUMNS.split(",")))


class SqliteMutes(SqlitePart):
    """`store.mutes` on SQLite."""

    def add(self, mute: MuteRecord) -> tuple[MuteRecord, bool]:
        with self.db.atomic():
            same = first(
                self.db.execute(
                    f"SELECT {MUTE_COLUMNS} FROM mutes WHERE student IS ? AND rule IS ? "
                    "AND channel IS ? AND made_by = ? AND ended_at IS NULL AND until > ? "
                    "AND created_at >= ? ORDER BY created_at DESC LIMIT 1",
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
            self.db.execute(
                f"INSERT INTO mutes ({MUTE_COLUMNS}) VALUES ({_MUTE_MARKS})", mute_values(mute)
            )
        return mute, True

    def get(self, mute_id: str) -> MuteRecord | None:
        row = first(self.db.execute(f"SELECT {MUTE_COLUMNS} FROM mutes WHERE id = ?", [mute_id]))
        return None if row is None else mute_of(row)

    def lift(self, mute_id: str, *, now: float, by: str) -> tuple[MuteRecord | None, bool]:
        with self.db.atomic():
            changed = self.db.execute(
                "UPDATE mutes SET ended_at = ?, ended_by = ? "
                "WHERE id = ? AND ended_at IS NULL AND until > ?",
                [now, by, mute_id, now],
            ).rowcount
        return self.get(mute_id), changed == 1

    def active(self, now: float) -> list[MuteRecord]:
        rows = named(
            self.db.execute(
                f"SELECT {MUTE_COLUMNS} FROM mutes WHERE ended_at IS NULL AND until > ? "
                "ORDER BY created_at",
                [now],
            )
        )
        return [mute_of(r) for r in rows]

    def listed(self, now: float, ended_since: float) -> list[MuteRecord]:
        rows = named(
            self.db.execute(
                f"SELECT {MUTE_COLUMNS} FROM mutes WHERE "
                "MIN(COALESCE(ended_at, until), until) > ? ORDER BY created_at DESC, id",
                [min(now, ended_since)],
            )
        )
        return [mute_of(r) for r in rows]

    def changed_since(self, since: float, now: float) -> list[MuteRecord]:
        rows = named(
            self.db.execute(
                f"SELECT {MUTE_COLUMNS} FROM mutes WHERE created_at >= ? OR ended_at >= ? "
                "OR (until >= ? AND until <= ?) ORDER BY created_at, id",
                [since, since, since, now],
            )
        )
        return [mute_of(r) for r in rows]

    def hold(self, held: dict[str, str], now: float) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE outbox SET status = 'muted', mute_id = ?, last_error = ?, "
                "updated_at = ?, claimed_until = NULL WHERE id = ?",
                [(mute, f"muted by {mute}", now, id_) for id_, mute in held.items()],
            )

    def release(self, ids: list[str], now: float) -> int:
        count = 0
        with self.db.atomic():
            for id_ in ids:
                count += self.db.execute(
                    "UPDATE outbox SET status = 'queued', next_at = ?, created_at = ?, "
                    "attempts = 0, faults = 0, claimed_until = NULL, last_error = NULL, "
                    "mute_id = ? WHERE status = 'muted' AND id = ?",
                    [now, now, REPLAYED, id_],
                ).rowcount
        return count

    def replayed(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        marks = ", ".join(["?"] * len(ids))
        rows = named(
            self.db.execute(
                f"SELECT id FROM outbox WHERE mute_id = ? AND id IN ({marks})",
                [REPLAYED, *ids],
            )
        )
        return {r["id"] for r in rows}

    def prune(self, before: float) -> int:
        with self.db.atomic():
            count = self.db.execute(
                "DELETE FROM mutes WHERE MIN(COALESCE(ended_at, until), until) < ?",
                [before],
            ).rowcount
            self.db.execute(  # a held row's earlier tries go with it
                "DELETE FROM outbox_tries WHERE delivery IN (SELECT id FROM outbox "
                "WHERE status = 'muted' AND updated_at < ?)",
                [before],
            )
            count += self.db.execute(
                "DELETE FROM outbox WHERE status = 'muted' AND updated_at < ?", [before]
            ).rowcount
        return int(count)


class SqliteFollowUps(SqlitePart):
    """`store.follow_ups` on SQLite: the delivery is the primary key, so the first
    insert wins and every later one is ignored."""

    def claim(self, follow_up: FollowUpRecord) -> tuple[FollowUpRecord, bool]:
        with self.db.atomic():
            added = self.db.execute(
                f"INSERT OR IGNORE INTO follow_ups ({FOLLOW_UP_COLUMNS}) "
                f"VALUES ({_FOLLOW_UP_MARKS})",
                follow_up_values(follow_up),
            ).rowcount
        kept = self.get(follow_up.delivery)
        if kept is None:  # cannot happen: the row was there or just written
            raise RuntimeError(f"follow-up of {follow_up.delivery} not kept")
        return kept, added == 1

    def get(self, delivery: str) -> FollowUpRecord | None:
        row = first(
            self.db.execute(
                f"SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE delivery = ?", [delivery]
            )
        )
        return None if row is None else follow_up_of(row)

    def since(self, since: float) -> list[FollowUpRecord]:
        rows = named(
            self.db.execute(
                f"SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE at >= ? ORDER BY at, delivery",
                [since],
            )
        )
        return [follow_up_of(r) for r in rows]

    def delivery(self, delivery_id: str) -> DeliveryRecord | None:
        row = first(
            self.db.execute(
                f"SELECT {DELIVERY_RECORD_COLUMNS} FROM outbox WHERE id = ?", [delivery_id]
            )
        )
        return None if row is None else delivery_of(row)

    def message_rows(self, message_ref: str) -> list[DeliveryRecord]:
        rows = named(
            self.db.execute(
                f"SELECT {DELIVERY_RECORD_COLUMNS} FROM outbox WHERE message_ref = ? "
                "ORDER BY created_at, rowid",
                [message_ref],
            )
        )
        return [delivery_of(r) for r in rows]

    def name_message(self, message: str, ids: list[str]) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO message_rows (message, delivery) VALUES (?, ?)",
                [(message, id_) for id_ in ids],
            )

    def message_of(self, delivery_id: str) -> str | None:
        row = first(
            self.db.execute(
                "SELECT message FROM message_rows WHERE delivery = ? ORDER BY message LIMIT 1",
                [delivery_id],
            )
        )
        return None if row is None else str(row["message"])

    def message_members(self, message: str) -> list[DeliveryRecord]:
        columns = ", ".join(f"o.{c.strip()}" for c in DELIVERY_RECORD_COLUMNS.split(","))
        rows = named(
            self.db.execute(
                f"SELECT {columns} FROM message_rows AS m JOIN outbox AS o ON o.id = m.delivery "
                "WHERE m.message = ? ORDER BY o.created_at, o.rowid",
                [message],
            )
        )
        return [delivery_of(r) for r in rows]

    def prune(self, before: float) -> int:
        with self.db.atomic():
            count = self.db.execute("DELETE FROM follow_ups WHERE at < ?", [before]).rowcount
            count += self.db.execute(
                "DELETE FROM message_rows WHERE NOT EXISTS "
                "(SELECT 1 FROM outbox WHERE outbox.id = message_rows.delivery)"
            ).rowcount
        return int(count)


class SqliteAudit(SqlitePart):
    """`store.audit` on SQLite."""

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
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO audit (at, actor, source, action, target, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [time.time() if at is None else at, by, source, action, target, detail],
            )

    def recent(self, limit: int = 100, before: datetime | None = None) -> list[AuditEntry]:
        where = "" if before is None else " WHERE at < ?"
        args: list[float | int] = [] if before is None else [before.timestamp()]
        rows = named(
            self.db.execute(
                f"SELECT {AUDIT_COLUMNS} FROM audit{where} ORDER BY at DESC, id DESC LIMIT ?",
                [*args, limit],
            )
        )
        return [audit_of(r) for r in rows]


__all__ = ["SqliteAudit", "SqliteFollowUps", "SqliteMutes"]
