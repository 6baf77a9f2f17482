"""The per-source half of the PostgreSQL store: how each source's polls went, and its
small JSON state (cursors, look-up caches), written beside the seen marks by `record`."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from notifier.state.base import SourceStatus, iso
from notifier.state.postgres_conn import PostgresPart
from notifier.state.rows import first, named


def write_state(
    conn: psycopg.Connection[TupleRow], scope: str, items: Mapping[str, object], now: float
) -> None:
    """Inside the caller's transaction (`put_state`'s, or `record`'s for a cursor)."""
    if not items:
        return
    conn.execute(
        "INSERT INTO state (scope, key, value, updated_at) "
        "SELECT %s, k, v, %s FROM unnest(%s::text[], %s::text[]) AS t(k, v) "
        "ON CONFLICT (scope, key) DO UPDATE SET value = EXCLUDED.value, "
        "updated_at = EXCLUDED.updated_at",
        [scope, now, list(items), [json.dumps(v, default=str) for v in items.values()]],
    )


class PostgresSourceState(PostgresPart):
    """`store.sources` (notifier.state.base.SourceState)."""

    def source_polled(self, source: str, *, ok: bool, error: str | None, now: float) -> None:
        """Record a poll: `ok` when the source was read (last_success moves on);
        `error` is the latest poll's error, or None. A partial failure is both."""
        self.pg.db().execute(
            "INSERT INTO source_status (source, last_success, last_error, last_attempt) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (source) DO UPDATE SET "
            "last_success = COALESCE(EXCLUDED.last_success, source_status.last_success), "
            "last_error = EXCLUDED.last_error, last_attempt = EXCLUDED.last_attempt",
            [source, iso(now) if ok else None, error, iso(now)],
        )

    def source_statuses(self) -> dict[str, SourceStatus]:
        rows = named(
            self.pg.db().execute(
                "SELECT source, last_success, last_error FROM source_status ORDER BY source"
            )
        )
        return {
            r["source"]: {"last_success": r["last_success"], "last_error": r["last_error"]}
            for r in rows
        }

    # -- small key/value state for sources (cursors, look-up caches) ------------------------

    def get_state(self, scope: str, key: str) -> Any:  # the JSON column as stored
        row = first(
            self.pg.db().execute(
                "SELECT value FROM state WHERE scope = %s AND key = %s", [scope, key]
            )
        )
        return None if row is None else json.loads(row["value"])

    def put_state(self, scope: str, items: Mapping[str, object], now: float | None = None) -> None:
        with self.pg.tx() as conn:
            write_state(conn, scope, items, time.time() if now is None else now)
