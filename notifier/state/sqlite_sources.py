"""The per-source half of the SQLite store: how each source's polls went, and its small
JSON state (cursors, look-up caches), written beside the seen marks by `record`."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from notifier.state.base import SourceStatus, iso
from notifier.state.rows import first
from notifier.state.sqlite_conn import ImmediateDatabase, SqlitePart


class SqliteSourceState(SqlitePart):
    """`store.sources` (notifier.state.base.SourceState)."""

    def source_polled(self, source: str, *, ok: bool, error: str | None, now: float) -> None:
        """Record a poll: `ok` when the source was read (last_success moves on);
        `error` is the latest poll's error, or None. A partial failure is both."""
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO source_status(source, last_success, last_error, last_attempt) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(source) DO UPDATE SET "
                "last_success = COALESCE(excluded.last_success, last_success), "
                "last_error = excluded.last_error, last_attempt = excluded.last_attempt",
                [source, iso(now) if ok else None, error, iso(now)],
            )

    def source_statuses(self) -> dict[str, SourceStatus]:
        return {
            row["source"]: {"last_success": row["last_success"], "last_error": row["last_error"]}
            for row in self.db.query("SELECT * FROM source_status ORDER BY source")
        }

    # -- small key/value state for sources (cursors, look-up caches) ------------------------

    def get_state(self, scope: str, key: str) -> Any:  # the JSON column as stored
        row = first(
            self.db.execute("SELECT value FROM state WHERE scope = ? AND key = ?", [scope, key])
        )
        return None if row is None else json.loads(row["value"])

    def put_state(self, scope: str, items: Mapping[str, object], now: float | None = None) -> None:
        with self.db.atomic():
            write_state(self.db, scope, items, time.time() if now is None else now)


def write_state(db: ImmediateDatabase, scope: str, items: Mapping[str, object], now: float) -> None:
    """Inside the caller's transaction (`put_state`'s, or `record`'s for a cursor)."""
    db.conn.executemany(
        "INSERT INTO state(scope, key, value, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(scope, key) DO UPDATE SET value = excluded.value, "
        "updated_at = excluded.updated_at",
        [(scope, k, json.dumps(v, default=str), now) for k, v in items.items()],
    )
