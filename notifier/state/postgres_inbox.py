"""The inbox half of the PostgreSQL store: Testpress's pushed webhooks, written durably
before they are answered, processed by whichever replica's loop gets to them.

`inbox_add` commits one transaction (synchronous_commit as the server has it: on by
default, so a webhook answered 200 survives a crash of the database machine too).
Push requests may reach any replica, and any replica processes the inbox: taking
pending rows stamps them with a lease (their `next_at` moved on by CLAIM_SECONDS,
`FOR UPDATE SKIP LOCKED`), so two replicas never process one payload at once, and a
replica that dies mid-way leaves rows that are simply due again after the lease (the
poll would find those completions too: nothing is lost either way).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from notifier.state.base import InboxRow
from notifier.state.postgres_received import PostgresReceived
from notifier.state.rows import named

CLAIM_SECONDS = 120.0


class PostgresInbox(PostgresReceived):
    """`store.inbox` (notifier.state.base.Inbox), with its received keys (`PostgresReceived`)."""

    def inbox_add(self, items: Sequence[tuple[str, str]], now: float) -> list[int]:
        if not items:
            return []
        rows = named(
            self.pg.db().execute(
                "INSERT INTO inbox (kind, body, received_at, status, tries, next_at) "
                "SELECT k, b, %s, 'pending', 0, %s FROM unnest(%s::text[], %s::text[]) "
                "WITH ORDINALITY AS t(k, b, n) ORDER BY n RETURNING id",
                [now, now, [kind for kind, _ in items], [body for _, body in items]],
            )
        )
        return sorted(int(r["id"]) for r in rows)

    def inbox_pending(self, now: float, limit: int = 500) -> list[InboxRow]:
        rows = named(
            self.pg.db().execute(
                "UPDATE inbox SET next_at = %s WHERE id IN (SELECT id FROM inbox "
                "WHERE status = 'pending' AND next_at <= %s ORDER BY id LIMIT %s "
                "FOR UPDATE SKIP LOCKED) RETURNING id, kind, body, received_at, tries",
                [now + CLAIM_SECONDS, now, limit],
            )
        )
        return sorted((InboxRow(**r) for r in rows), key=lambda r: r.id)

    def inbox_done(self, ids: Iterable[int], now: float, error: str | None = None) -> None:
        self.pg.db().execute(
            "UPDATE inbox SET status = 'done', done_at = %s, last_error = %s WHERE id = ANY(%s)",
            [now, None if error is None else error[:500], list(ids)],
        )

    def inbox_retry(self, ids: Iterable[int], *, now: float, next_at: float, error: str) -> None:
        self.pg.db().execute(
            "UPDATE inbox SET tries = tries + 1, next_at = %s, last_error = %s WHERE id = ANY(%s)",
            [next_at, error[:500], list(ids)],
        )

    def inbox_prune(self, done_before: float) -> int:
        cursor = self.pg.db().execute(
            "DELETE FROM inbox WHERE status = 'done' AND done_at < %s", [done_before]
        )
        return max(0, cursor.rowcount)
