"""The PostgreSQL state store: the same tables and transactions as the SQLite one, shared
by any number of `notifier run` replicas (contract section 12).

The invariants are the SQLite store's, made to hold across processes:

- `store.seen.record` (notifier.state.postgres_seen) writes a cycle's seen marks, its
  outbox rows and the source's cursor in ONE transaction, and an outbox row's primary
  key is its delivery id (one per (rule, event key, channel)) inserted with `ON
  CONFLICT DO NOTHING`: even two pollers overlapping (a lease that ran out mid-cycle)
  can never queue one alert twice.
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

import uuid

import psycopg

from notifier.settings.dburl import redact_url
from notifier.state.actions_base import AuditLog, FollowUpStore, MuteStore
from notifier.state.base import (
    DeliveryLog,
    Faults,
    History,
    Inbox,
    Meta,
    Outbox,
    SeenMarks,
    SourceState,
)
from notifier.state.people import ConsoleReads, Sessions, Users
from notifier.state.postgres_actions import PostgresAudit, PostgresFollowUps, PostgresMutes
from notifier.state.postgres_conn import PostgresConnection, StoreUnavailable, reason
from notifier.state.postgres_console import PostgresConsoleReads
from notifier.state.postgres_faults import PostgresFaults
from notifier.state.postgres_history import PostgresHistory
from notifier.state.postgres_inbox import PostgresInbox
from notifier.state.postgres_log import PostgresDeliveryLog
from notifier.state.postgres_meta import PostgresMeta, write_meta
from notifier.state.postgres_outbox import CLAIM_BATCH, PostgresOutbox
from notifier.state.postgres_people import PostgresSessions, PostgresUsers
from notifier.state.postgres_replicas import PostgresReplicas
from notifier.state.postgres_rules import PostgresRules
from notifier.state.postgres_schema import PG_MIGRATIONS, SCHEMA_VERSION
from notifier.state.postgres_seen import PostgresSeen
from notifier.state.postgres_sources import PostgresSourceState
from notifier.state.rows import first
from notifier.state.rules_base import RulesVersions

__all__ = ["CLAIM_BATCH", "PostgresStore", "StoreUnavailable"]

_MIGRATION_LOCK = 0x6E6F7469  # pg_advisory_xact_lock key: replicas starting together


class PostgresStore(PostgresConnection):
    """The store on a PostgreSQL database, as a handle (one connection, one thread): its
    lifecycle here, one attribute per concern (`seen`, `outbox`, ..., `replicas`), each
    on this handle's connection."""

    def __init__(self, url: str, *, replica: str | None = None, migrate: bool = True):
        """Connect (and create or migrate the schema). `replica` is this process's id
        in the `replicas` table; every handle of one process shares it."""
        super().__init__(url, replica or uuid.uuid4().hex[:16])
        if migrate:
            try:
                self._migrate()
            except psycopg.Error as exc:
                self.close()
                raise StoreUnavailable(
                    f"{redact_url(url)}: cannot create or migrate the schema: {reason(exc, url)}"
                ) from None
        self.seen: SeenMarks = PostgresSeen(self)
        self.outbox: Outbox = PostgresOutbox(self)
        self.sources: SourceState = PostgresSourceState(self)
        self.history: History = PostgresHistory(self)
        self.meta: Meta = PostgresMeta(self)
        self.inbox: Inbox = PostgresInbox(self)
        self.faults: Faults = PostgresFaults(self)
        self.log: DeliveryLog = PostgresDeliveryLog(self)
        self.rules: RulesVersions = PostgresRules(self)
        self.replicas = PostgresReplicas(self)
        self.mutes: MuteStore = PostgresMutes(self)
        self.follow_ups: FollowUpStore = PostgresFollowUps(self)
        self.audit: AuditLog = PostgresAudit(self)
        self.users: Users = PostgresUsers(self)  # the console's (people)
        self.sessions: Sessions = PostgresSessions(self)
        self.console: ConsoleReads = PostgresConsoleReads(self)

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
                    write_meta(conn, "schema_version", str(target))
                    current = target
