"""The seen marks of the PostgreSQL store, and `record` (the SQLite one's twin): the ONE
transaction of a cycle. An outbox row's primary key is its delivery id, inserted with
`ON CONFLICT DO NOTHING`, so even two pollers overlapping (a lease that ran out
mid-cycle) can never queue one alert twice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping

from notifier.events import Kept
from notifier.state.base import NewDelivery, iso
from notifier.state.packed import student_columns
from notifier.state.postgres_conn import PostgresPart
from notifier.state.postgres_history import write_history
from notifier.state.postgres_meta import read_meta, write_meta
from notifier.state.postgres_sources import write_state
from notifier.state.rows import first, named


class PostgresSeen(PostgresPart):
    """`store.seen` (notifier.state.base.SeenMarks)."""

    def has_baseline(self, source: str) -> bool:
        return read_meta(self.pg.db(), f"baseline:{source}") is not None

    def unseen(self, source: str, keys: Iterable[str]) -> set[str]:
        """The keys of `source` not marked seen yet."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        rows = named(
            self.pg.db().execute(
                "SELECT key FROM seen WHERE source = %s AND key = ANY(%s)", [source, wanted]
            )
        )
        return set(wanted) - {row["key"] for row in rows}

    def count_seen(self, source: str, prefix: str) -> int:
        """How many keys of `source` starting with `prefix` are marked seen (a range
        scan of the primary key: `key` sorts bytewise, COLLATE "C")."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
        row = first(
            self.pg.db().execute(
                "SELECT COUNT(*) AS n FROM seen WHERE source = %s AND key >= %s AND key < %s",
                [source, prefix, upper],
            )
        )
        return int(row["n"]) if row else 0

    def record(
        self,
        source: str,
        seen_keys: Iterable[str],
        deliveries: Iterable[NewDelivery],
        *,
        baseline: bool = False,
        state: Mapping[str, object] | None = None,
        now: float | None = None,
        history: Iterable[Kept] = (),
    ) -> int:
        """Mark keys seen, queue deliveries, save the source's cursor `state` and keep
        the events' `history`, in one transaction. Returns how many deliveries were new:
        an existing (rule, key, channel) is never queued twice, whichever replica
        queued it first."""
        now = time.time() if now is None else now
        keys = list(seen_keys)
        rows = list(deliveries)
        with self.pg.tx() as conn:
            if state:
                write_state(conn, source, state, now)
            write_history(conn, history)
            if keys:
                conn.execute(
                    "INSERT INTO seen (source, key, seen_at) "
                    "SELECT %s, k, %s FROM unnest(%s::text[]) AS k ON CONFLICT DO NOTHING",
                    [source, now, keys],
                )
            added = 0
            if rows:
                cursor = conn.execute(
                    "INSERT INTO outbox (id, rule, channel, event, event_key, alerts, status, "
                    "attempts, next_at, created_at, updated_at, group_key, user_id, email) "
                    "SELECT i, r, c, e, k, a, 'queued', 0, n, %s, %s, g, u, m FROM unnest("
                    "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
                    "%s::float8[], %s::text[], %s::text[], %s::text[]) "
                    "AS t(i, r, c, e, k, a, n, g, u, m) "
                    "ON CONFLICT (id) DO NOTHING",
                    [
                        now,
                        now,
                        [d.id for d in rows],
                        [d.rule for d in rows],
                        [d.channel for d in rows],
                        [d.event for d in rows],
                        [d.event_key for d in rows],
                        [json.dumps(d.alerts, default=str) for d in rows],
                        [now if d.not_before is None else d.not_before for d in rows],
                        [d.group for d in rows],
                        [student_columns(d.alerts)[0] for d in rows],
                        [student_columns(d.alerts)[1] for d in rows],
                    ],
                )
                added = max(0, cursor.rowcount)
            if baseline:
                write_meta(conn, f"baseline:{source}", iso(now) or "")
        return added
