"""The PostgreSQL state store: the same tables and transactions as the SQLite one, shared
by any number of `notifier run` replicas (contract section 12).

The invariants are the SQLite store's, made to hold across processes:

- `record` writes a cycle's seen marks, its outbox rows and the source's cursor in ONE
  transaction, and an outbox row's primary key is its delivery id (one per (rule, event
  key, channel)) inserted with `ON CONFLICT DO NOTHING`: even two pollers overlapping
  (a lease that ran out mid-cycle) can never queue one alert twice.
- Claims take due rows `FOR UPDATE SKIP LOCKED` and stamp them with a lease and the
  claiming replica (notifier.state.postgres_outbox): every replica delivers, no row is
  sent by two at once, and a dead replica's claims are given back by the others.
- One poller at a time through a lease row (notifier.state.postgres_replicas).

Connections: one per thread, as with SQLite (`for_thread`), in autocommit mode with
explicit transactions, and no server-side prepared statements (`prepare_threshold=None`)
and no session state, so the store works unchanged behind a transaction-pooling
pgbouncer. A connection that broke (the server restarted) is replaced on the next call:
the caller's operation fails once (the run loop retries the cycle), then the store
recovers by itself. The URL's password never appears in an error (`redact_url`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

import psycopg

from notifier.events import Kept
from notifier.settings.dburl import redact_url
from notifier.state.base import NewDelivery, iso
from notifier.state.postgres_conn import StoreUnavailable, reason
from notifier.state.postgres_faults import PostgresFaults
from notifier.state.postgres_history import PostgresHistory
from notifier.state.postgres_inbox import PostgresInbox
from notifier.state.postgres_log import PostgresDeliveryLog
from notifier.state.postgres_outbox import CLAIM_BATCH, PostgresOutbox
from notifier.state.postgres_received import PostgresReceived
from notifier.state.postgres_replicas import PostgresReplicas
from notifier.state.postgres_rules import PostgresRules
from notifier.state.postgres_schema import PG_MIGRATIONS, SCHEMA_VERSION
from notifier.state.postgres_sources import PostgresSourceState
from notifier.state.rows import first, named
from notifier.state.sqlite_history import INACTIVITY_SEEN

__all__ = ["CLAIM_BATCH", "PostgresStore", "StoreUnavailable"]

_MIGRATION_LOCK = 0x6E6F7469  # pg_advisory_xact_lock key: replicas starting together


class PostgresStore(
    PostgresOutbox,
    PostgresSourceState,
    PostgresInbox,
    PostgresReceived,
    PostgresHistory,
    PostgresReplicas,
    PostgresDeliveryLog,
    PostgresFaults,
):
    def __init__(self, url: str, *, replica: str | None = None, migrate: bool = True):
        """Connect (and create or migrate the schema). `replica` is this process's id
        in the `replicas` table; every handle of one process shares it."""
        super().__init__(url, replica or uuid.uuid4().hex[:16])
        self.rules = PostgresRules(self)  # the rules' versions: a concern of its own
        if migrate:
            try:
                self._migrate()
            except psycopg.Error as exc:
                self.close()
                raise StoreUnavailable(
                    f"{redact_url(url)}: cannot create or migrate the schema: {reason(exc, url)}"
                ) from None

    def ping(self) -> str | None:
        """From any thread (a health check): None when the database answers a read,
        else why not (redacted). A connection of its own: the store's may be in the
        middle of another thread's transaction."""
        try:
            with psycopg.connect(
                self.url, autocommit=True, prepare_threshold=None, connect_timeout=3
            ) as conn:
                conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except psycopg.Error as exc:
            return f"{type(exc).__name__}: {reason(exc, self.url)}"
        return None

    def for_thread(self) -> PostgresStore:
        """A connection of its own for another thread (a delivery worker)."""
        return PostgresStore(self.url, replica=self.replica, migrate=False)

    # -- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self.tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            exists = first(conn.execute("SELECT to_regclass('meta') IS NOT NULL AS made"))
            version = None
            if exists and exists["made"]:
                row = first(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'"))
                version = None if row is None else int(row["value"])
            if version is not None and version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{redact_url(self.url)} was written by a newer notifier (schema "
                    f"{version}); this one knows schema {SCHEMA_VERSION}"
                )
            current = 0 if version is None else version
            for target, script in PG_MIGRATIONS:
                if current < target:
                    for statement in script.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    self._set_meta(conn, "schema_version", str(target))
                    current = target

    def get_meta(self, key: str) -> str | None:
        row = first(self.db().execute("SELECT value FROM meta WHERE key = %s", [key]))
        return None if row is None else str(row["value"])

    @staticmethod
    def _set_meta(conn: psycopg.Connection[Any], key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, value],
        )

    def set_meta(self, key: str, value: str) -> None:
        self._set_meta(self.db(), key, value)

    # -- seen -----------------------------------------------------------------------------

    def has_baseline(self, source: str) -> bool:
        return self.get_meta(f"baseline:{source}") is not None

    def unseen(self, source: str, keys: Iterable[str]) -> set[str]:
        """The keys of `source` not marked seen yet."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        rows = named(
            self.db().execute(
                "SELECT key FROM seen WHERE source = %s AND key = ANY(%s)", [source, wanted]
            )
        )
        return set(wanted) - {row["key"] for row in rows}

    def count_seen(self, source: str, prefix: str) -> int:
        """How many keys of `source` starting with `prefix` are marked seen (a range
        scan of the primary key: `key` sorts bytewise, COLLATE "C")."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
        row = first(
            self.db().execute(
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
        state: dict[str, Any] | None = None,
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
        with self.tx() as conn:
            if state:
                self._put_state(conn, source, state, now)
            self._write_history(conn, history)
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
                    "attempts, next_at, created_at, updated_at, group_key) "
                    "SELECT i, r, c, e, k, a, 'queued', 0, n, %s, %s, g FROM unnest("
                    "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
                    "%s::float8[], %s::text[]) AS t(i, r, c, e, k, a, n, g) "
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
                    ],
                )
                added = max(0, cursor.rowcount)
            if baseline:
                self._set_meta(conn, f"baseline:{source}", iso(now) or "")
        return added

    def prune(
        self, *, seen_before: float, sent_before: float, dead_before: float
    ) -> dict[str, int]:
        """Forget what can no longer matter (as the SQLite store does), in one transaction."""
        with self.tx() as conn:

            def delete(sql: str, *values: Any) -> int:
                return max(0, conn.execute(sql, list(values)).rowcount)

            return {
                "seen": delete(
                    "DELETE FROM seen WHERE seen_at < %s AND source <> %s",
                    seen_before,
                    INACTIVITY_SEEN,
                ),
                "sent": delete(
                    "DELETE FROM outbox WHERE status = 'sent' AND updated_at < %s", sent_before
                ),
                "dead": delete(
                    "DELETE FROM outbox WHERE status = 'dead' AND updated_at < %s", dead_before
                ),
                "cache": delete(
                    "DELETE FROM state WHERE scope = 'lookups' AND updated_at < %s", dead_before
                ),
            }
