"""The outbox half of the PostgreSQL store: claims shared by every replica.

A claim takes due rows `FOR UPDATE SKIP LOCKED`, so two replicas claiming at the same
moment each get different rows without waiting for one another, and stamps them with a
lease (`claimed_until`) and the claiming replica (`claimed_by`). A claimed row is
invisible to the other replicas until it is marked sent or failed, given back, or its
replica is found dead (its heartbeat stopped: notifier.state.postgres_replicas gives its
claims back at once) or, last resort, its lease ran out.

Claims are small batches (CLAIM_BATCH a channel), not the whole backlog: a replica takes
more when it has sent what it holds, so a backlog spreads over every replica instead of
being held by the first one to look.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from psycopg.rows import dict_row

from notifier.state.base import STATUSES, OutboxRow, SentRow, outbox_row
from notifier.state.postgres_conn import PostgresPart
from notifier.state.rows import Row, first, named

CLAIM_BATCH = 32

_CLAIM = """
WITH channels AS (
    SELECT DISTINCT channel FROM outbox
    WHERE status IN ('queued', 'retrying') AND next_at <= %(now)s
), picked AS (
    SELECT due.id FROM channels, LATERAL (
        SELECT id FROM outbox
        WHERE channel = channels.channel AND status IN ('queued', 'retrying')
          AND next_at <= %(now)s AND (claimed_until IS NULL OR claimed_until < %(now)s)
        ORDER BY next_at, created_at, seq
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS due
)
UPDATE outbox SET claimed_until = %(until)s, claimed_by = %(me)s
WHERE id IN (SELECT id FROM picked)
RETURNING id, rule, channel, event, event_key, alerts, status, attempts, created_at,
    group_key, next_at, seq
"""


# A try of each row an outcome statement changed (`done`), numbered after the tries kept
# (a replay numbers on): one statement with the outcome's, so one transaction.
_TRIES = """
INSERT INTO outbox_tries (delivery, number, at, outcome, answer, error)
SELECT done.id, COALESCE((SELECT MAX(number) FROM outbox_tries WHERE delivery = done.id), 0)
    + 1, %(now)s, %(outcome)s, %(answer)s, %(error)s FROM done
"""


class PostgresOutbox(PostgresPart):
    """`store.outbox` (notifier.state.base.Outbox): claims shared by every replica."""

    def release_all_claims(self) -> int:
        """Give back the claims of this replica (a pass that failed half-way: none of
        its sends is in flight any more) and of replicas whose heartbeat stopped (they
        died mid-send: their sends are made again at once). A live replica's claims
        are never touched, so starting a replica never makes another's sends twice."""
        with self.pg.tx() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET claimed_until = NULL, claimed_by = NULL "
                "WHERE claimed_by = %s OR claimed_by IN (SELECT id FROM replicas "
                "WHERE alive_until < EXTRACT(EPOCH FROM clock_timestamp()))",
                [self.replica],
            )
            conn.execute(
                "DELETE FROM replicas WHERE alive_until < EXTRACT(EPOCH FROM clock_timestamp())"
            )
        return max(0, cursor.rowcount)

    def claim_due(
        self, now: float, lease_seconds: float, limit_per_channel: int = CLAIM_BATCH
    ) -> list[OutboxRow]:
        """Claim due deliveries (queued, or retrying with next_at <= now; not claimed by
        a live lease), oldest first, at most `limit_per_channel` a channel, skipping
        rows another replica is claiming this instant."""
        rows = named(
            self.pg.db().execute(
                _CLAIM,
                {
                    "now": now,
                    "until": now + lease_seconds,
                    "me": self.replica,
                    "limit": limit_per_channel,
                },
            )
        )
        rows.sort(key=lambda r: (r["next_at"], r["created_at"], r["seq"]))
        return [outbox_row(r) for r in rows]

    def pending_group(self, rule: str, channel: str, group: str) -> float | None:
        """When the queued rows of this group are due (planning joins them)."""
        row = first(
            self.pg.db().execute(
                "SELECT MIN(next_at) AS at FROM outbox WHERE rule = %s AND channel = %s "
                "AND group_key = %s AND status = 'queued' AND attempts = 0",
                [rule, channel, group],
            )
        )
        return None if row is None else row["at"]

    def last_group_send(self, rule: str, channel: str, group: str) -> float | None:
        row = first(
            self.pg.db().execute(
                "SELECT MAX(sent_at) AS at FROM outbox WHERE rule = %s AND channel = %s "
                "AND group_key = %s AND status = 'sent'",
                [rule, channel, group],
            )
        )
        return None if row is None else row["at"]

    def mark_sent(
        self, ids: Iterable[str], now: float, ref: str | None = None, answer: str = ""
    ) -> None:
        self.pg.db().execute(
            "WITH done AS (UPDATE outbox SET status = 'sent', attempts = attempts + 1, "
            "sent_at = %(now)s, updated_at = %(now)s, claimed_until = NULL, claimed_by = NULL, "
            "last_error = NULL, message_ref = %(ref)s WHERE id = ANY(%(ids)s) RETURNING id)"
            + _TRIES,
            {
                "now": now,
                "ref": ref,
                "ids": list(ids),
                "outcome": "sent",
                "answer": answer[:100],
                "error": None,
            },
        )

    def mark_sent_each(self, sent: Sequence[SentRow]) -> None:
        with self.pg.tx():
            for id_, at, ref, answer in sent:
                self.mark_sent([id_], at, ref, answer)

    def message_ref(self, id_: str) -> str | None:
        row = first(self.pg.db().execute("SELECT message_ref FROM outbox WHERE id = %s", [id_]))
        return None if row is None else row["message_ref"]

    def mark_failed(
        self, id_: str, *, now: float, next_at: float | None, error: str, answer: str = ""
    ) -> None:
        """Record a failed try: retry at `next_at`, or dead when it is None."""
        self.mark_failed_many([id_], now=now, next_at=next_at, error=error, answer=answer)

    def mark_failed_many(
        self, ids: Iterable[str], *, now: float, next_at: float | None, error: str, answer: str = ""
    ) -> None:
        """Record a failed try of every row one message carried, and keep the try, in
        one statement."""
        self.pg.db().execute(
            "WITH done AS (UPDATE outbox SET status = %(status)s, attempts = attempts + 1, "
            "next_at = %(next_at)s, updated_at = %(now)s, claimed_until = NULL, "
            "claimed_by = NULL, last_error = %(error)s WHERE id = ANY(%(ids)s) RETURNING id)"
            + _TRIES,
            {
                "status": "dead" if next_at is None else "retrying",
                "next_at": now if next_at is None else next_at,
                "now": now,
                "error": error[:500],
                "ids": list(ids),
                "outcome": "dead" if next_at is None else "retry",
                "answer": answer[:100],
            },
        )

    def release(self, ids: Iterable[str]) -> None:
        """Give back claimed rows that were not tried (a stop, a pass deadline)."""
        self.pg.db().execute(
            "UPDATE outbox SET claimed_until = NULL, claimed_by = NULL WHERE id = ANY(%s)",
            [list(ids)],
        )

    def replay(self, ids: Iterable[str] | None, now: float) -> int:
        """Queue dead deliveries again (all of them when ids is None), with a fresh
        retry budget."""
        sql = (
            "UPDATE outbox SET status = 'queued', next_at = %s, created_at = %s, "
            "attempts = 0, faults = 0, claimed_until = NULL, claimed_by = NULL "
            "WHERE status = 'dead'"
        )
        if ids is None:
            cursor = self.pg.db().execute(sql, [now, now])
        else:
            cursor = self.pg.db().execute(sql + " AND id = ANY(%s)", [now, now, list(ids)])
        return max(0, cursor.rowcount)

    def delivery_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        query = "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status"
        for row in named(self.pg.db().execute(query)):
            counts[row["status"]] = int(row["n"])
        return counts

    def dead_by_channel(self) -> dict[str, tuple[int, str | None]]:
        """Per channel with dead deliveries: how many, and the latest one's error."""
        rows = named(
            self.pg.db().execute(
                "SELECT channel, COUNT(*) AS n, (SELECT last_error FROM outbox AS o "
                "WHERE o.status = 'dead' AND o.channel = outbox.channel "
                "ORDER BY updated_at DESC, seq DESC LIMIT 1) AS error "
                "FROM outbox WHERE status = 'dead' GROUP BY channel"
            )
        )
        return {r["channel"]: (int(r["n"]), r["error"]) for r in rows}

    def deliveries(self, status: str | None = None) -> Iterator[Row]:
        """Rows as the SQLite store gives them (without the PostgreSQL-only claimed_by)."""
        where = " WHERE status = %s" if status else ""
        sql = f"SELECT * FROM outbox{where} ORDER BY created_at, seq"
        with self.pg.db().cursor(row_factory=dict_row) as cursor:
            cursor.execute(sql, [status] if status else [])
            rows = cursor.fetchall()
        for row in rows:
            row.pop("claimed_by", None)
            row.pop("seq", None)
            yield row
