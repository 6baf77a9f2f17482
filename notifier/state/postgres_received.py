"""The received keys of the PostgreSQL store's inbox: a verified webhook is recorded
once per (kind, key), whichever replica it reaches, so replaying a captured body
cannot grow the store (contract section 10). One statement: the keys not yet present
are inserted (the primary key settles two replicas receiving the same body at once),
and an inbox row is added for each key that was.
"""

from __future__ import annotations

from collections.abc import Sequence

from notifier.state.postgres_conn import PostgresPart
from notifier.state.rows import named


class PostgresReceived(PostgresPart):
    """The received keys of `store.inbox` (mixed into `PostgresInbox`)."""

    def inbox_receive(self, items: Sequence[tuple[str, str, str]], now: float) -> list[int]:
        if not items:
            return []
        rows = named(
            self.pg.db().execute(
                "WITH items AS (SELECT k, r, b, n FROM unnest(%s::text[], %s::text[], %s::text[]) "
                "WITH ORDINALITY AS t(k, r, b, n)), "
                "once AS (SELECT DISTINCT ON (k, r) k, r, b, n FROM items ORDER BY k, r, n), "
                "fresh AS (INSERT INTO inbox_received (kind, key, received_at) "
                "SELECT k, r, %s FROM once ON CONFLICT DO NOTHING RETURNING kind, key) "
                "INSERT INTO inbox (kind, body, received_at, status, tries, next_at) "
                "SELECT once.k, once.b, %s, 'pending', 0, %s FROM once "
                "JOIN fresh ON fresh.kind = once.k AND fresh.key = once.r "
                "ORDER BY once.n RETURNING id",
                [
                    [k for k, _, _ in items],
                    [r for _, r, _ in items],
                    [b for _, _, b in items],
                    now,
                    now,
                    now,
                ],
            )
        )
        return sorted(int(r["id"]) for r in rows)

    def inbox_prune_received(self, before: float) -> int:
        cursor = self.pg.db().execute("DELETE FROM inbox_received WHERE received_at < %s", [before])
        return max(0, cursor.rowcount)
