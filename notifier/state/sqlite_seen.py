"""The seen marks of the SQLite store, and `record`: the ONE transaction of a cycle,
which marks its keys seen, queues its deliveries, saves the source's cursor and keeps
the events' history, so a crash can never leave an event marked seen without its
deliveries queued, nor queued twice."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping

from notifier.events import Kept
from notifier.state.base import NewDelivery, iso
from notifier.state.packed import pack_alerts, student_columns
from notifier.state.rows import first, named
from notifier.state.sqlite_conn import SqlitePart
from notifier.state.sqlite_history import write_history
from notifier.state.sqlite_meta import read_meta, write_meta
from notifier.state.sqlite_sources import write_state


class SqliteSeen(SqlitePart):
    """`store.seen` (notifier.state.base.SeenMarks)."""

    def has_baseline(self, source: str) -> bool:
        return read_meta(self.db, f"baseline:{source}") is not None

    def unseen(self, source: str, keys: Iterable[str]) -> set[str]:
        """The keys of `source` not marked seen yet."""
        keys = list(dict.fromkeys(keys))
        seen: set[str] = set()
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            seen.update(
                row["key"]
                for row in named(
                    self.db.execute(
                        f"SELECT key FROM seen WHERE source = ? AND key IN ({marks})",
                        [source, *chunk],
                    )
                )
            )
        return set(keys) - seen

    def count_seen(self, source: str, prefix: str) -> int:
        """How many keys of `source` starting with `prefix` are marked seen (a range
        scan of the primary key, so it costs milliseconds at 100,000 keys)."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
        row = first(
            self.db.execute(
                "SELECT COUNT(*) AS n FROM seen WHERE source = ? AND key >= ? AND key < ?",
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
        the events' `history`, in one transaction. Returns how many deliveries were new
        (an existing (rule, key, channel) is never queued twice)."""
        now = time.time() if now is None else now
        with self.db.atomic():
            if state:
                write_state(self.db, source, state, now)
            write_history(self.db, history)
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO seen(source, key, seen_at) VALUES (?, ?, ?)",
                ((source, key, now) for key in seen_keys),  # a generator: a backlog's
                # 40,000 marks (attempts and members) are never a list of tuples at once
            )
            before = self.db.conn.total_changes
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO outbox(id, rule, channel, event, event_key, alerts, "
                "status, attempts, next_at, created_at, updated_at, group_key, user_id, email) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        d.id,
                        d.rule,
                        d.channel,
                        d.event,
                        d.event_key,
                        pack_alerts(d.alerts),
                        now if d.not_before is None else d.not_before,
                        now,
                        now,
                        d.group,
                        *student_columns(d.alerts),
                    )
                    for d in deliveries
                ],
            )
            added = self.db.conn.total_changes - before
            if baseline:
                write_meta(self.db, f"baseline:{source}", iso(now) or "")
        return added


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
