"""The SQLite state store: what has been seen, what must still be sent, and how polls went.

One file, WAL mode. Each connection belongs to one thread: the main loop's, and one per
delivery worker (`for_thread`, opened with `any_thread` so it can be closed at
shutdown). The invariant the delivery guarantees rest on: the seen marks of a cycle and
the outbox rows its matches produce are written in ONE transaction (`record`), so a
crash can never leave an event marked seen without its deliveries queued, nor queued
twice (`store.seen.record`, in `notifier.state.sqlite_seen`). `SqliteStore` is the
handle: opening (WAL, migrating), `ping`, `for_thread`, `close`, and one attribute per
concern, each a class of its own on the handle's connection (`sqlite_seen`,
`sqlite_outbox`, ...); the interface both backends implement is
`notifier.state.base.Store`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path

from notifier.settings import ConfigError
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
from notifier.state.migrations import _MIGRATIONS, COMPACT_SINCE, SCHEMA_VERSION
from notifier.state.packed import PACK_SQL, pack_text
from notifier.state.people import ConsoleReads, Sessions, Users
from notifier.state.rows import first
from notifier.state.rules_base import RulesVersions
from notifier.state.sqlite_actions import SqliteAudit, SqliteFollowUps, SqliteMutes
from notifier.state.sqlite_conn import ImmediateDatabase, write_queue
from notifier.state.sqlite_console import SqliteConsoleReads
from notifier.state.sqlite_faults import SqliteFaults
from notifier.state.sqlite_history import SqliteHistory
from notifier.state.sqlite_inbox import SqliteInbox
from notifier.state.sqlite_log import SqliteDeliveryLog
from notifier.state.sqlite_meta import SqliteMeta, read_meta, write_meta
from notifier.state.sqlite_outbox import SENT_VIEW, SqliteOutbox
from notifier.state.sqlite_people import SqliteSessions, SqliteUsers
from notifier.state.sqlite_rules import SqliteRules
from notifier.state.sqlite_seen import SqliteSeen
from notifier.state.sqlite_sources import SqliteSourceState

log = logging.getLogger(__name__)

AUTO_VACUUM_INCREMENTAL = 2  # what `PRAGMA auto_vacuum` reads for INCREMENTAL


def open_store(path: Path | str) -> SqliteStore:
    """The store a command uses; a path that cannot be opened is a configuration
    problem (exit 2) naming NOTIFIER_DB, not a traceback."""
    try:
        return SqliteStore(path)
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([f"NOTIFIER_DB: cannot open the state store {path}: {reason}"]) from None


def _create_private(path: Path) -> None:
    """Create the store readable by its owner only (it holds names and emails)."""
    if str(path) == ":memory:" or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


class SqliteStore:
    """The store on one SQLite file, as a handle: its lifecycle here, one attribute per
    concern (`seen`, `outbox`, ...), each on this handle's connection."""

    def __init__(self, path: Path | str, *, any_thread: bool = False):
        """Open (creating and migrating) the store. With `any_thread`, the connection
        may be used from another thread than the one that opened it (one thread at a
        time): the delivery workers each get such a connection of their own."""
        self.path = Path(path)
        _create_private(self.path)
        if any_thread:
            self.db = ImmediateDatabase(sqlite3.connect(self.path, check_same_thread=False))
        else:
            self.db = ImmediateDatabase(self.path)
        self.db.write_lock = write_queue(self.path)
        self.db.execute("PRAGMA busy_timeout = 5000")
        # Set before the first table, so a new store gives pruned pages back
        # (`Meta.compact`); on an existing file it changes nothing until a VACUUM. Set
        # only when it is not yet: setting it waits for the write lock, so a delivery
        # worker's handle, opened while another worker's transaction is open, waited.
        mode = first(self.db.execute("PRAGMA auto_vacuum"))
        if mode is None or mode["auto_vacuum"] != AUTO_VACUUM_INCREMENTAL:
            self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        self.db.conn.create_function(PACK_SQL, 1, pack_text, deterministic=True)
        if str(path) != ":memory:":
            self._enable_wal()
        self.db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()
        self.db.conn.executescript(SENT_VIEW)  # this connection's own (TEMP)
        self.seen: SeenMarks = SqliteSeen(self.db)
        self.outbox: Outbox = SqliteOutbox(self.db)
        self.sources: SourceState = SqliteSourceState(self.db)
        self.history: History = SqliteHistory(self.db)
        self.meta: Meta = SqliteMeta(self.db)
        self.inbox: Inbox = SqliteInbox(self.db)
        self.faults: Faults = SqliteFaults(self.db)
        self.log: DeliveryLog = SqliteDeliveryLog(self.db)
        self.rules: RulesVersions = SqliteRules(self.db)
        self.mutes: MuteStore = SqliteMutes(self.db)
        self.follow_ups: FollowUpStore = SqliteFollowUps(self.db)
        self.audit: AuditLog = SqliteAudit(self.db)
        self.users: Users = SqliteUsers(self.db)  # the console's (people)
        self.sessions: Sessions = SqliteSessions(self.db)
        self.console: ConsoleReads = SqliteConsoleReads(self.db)

    def close(self) -> None:
        self.db.close()

    def together(self) -> AbstractContextManager[None]:
        """One transaction for the writes inside (store.DeliveryStore.together)."""
        return self.db.together()

    def ping(self) -> str | None:
        """A read on a connection of its own (this one belongs to another thread)."""
        if str(self.path) == ":memory:":
            return None
        try:
            conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=2)
            try:
                conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def for_thread(self) -> SqliteStore:
        """A connection of its own for another thread (a delivery worker)."""
        return SqliteStore(self.path, any_thread=True)

    # -- schema -------------------------------------------------------------------------

    def _enable_wal(self) -> None:
        """WAL is kept in the file, so whoever opens a new store first switches it. The
        switch needs the file to itself, and SQLite answers "locked" at once instead of
        waiting while another process opens it too: try again for the busy timeout."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self.db.enable_wal()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _schema_version(self) -> int:
        version = read_meta(self.db, "schema_version") if "meta" in self.db.table_names() else None
        current = 0 if version is None else int(version)
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer notifier (schema {current}); "
                f"this one knows schema {SCHEMA_VERSION}"
            )
        return current

    def _migrate(self) -> None:
        """Bring the schema up to SCHEMA_VERSION.

        Two processes may open a new store at once (`notifier status` beside a starting
        `notifier run`): the version is read again and every script run under one write
        lock (BEGIN IMMEDIATE waits out the busy timeout), so the second finds the work
        done instead of failing on a table or column the first has just made.
        """
        if self._schema_version() == SCHEMA_VERSION:  # the usual open takes no write lock
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            current = before = self._schema_version()
            for target, script in _MIGRATIONS:
                if current < target:
                    for statement in script.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    write_meta(self.db, "schema_version", str(target))
                    current = target
        except BaseException:
            self.db.conn.rollback()
            raise
        self.db.execute("COMMIT")
        if 0 < before < COMPACT_SINCE:
            self._vacuum_into_incremental()

    def _vacuum_into_incremental(self) -> None:
        """Once, for a store made before schema 13 (auto-vacuum off): rewrite the file
        with incremental auto-vacuum, so pruning gives its pages back from now on, and
        with the outbox rows the migration has just packed taking their new size. In
        WAL mode readers carry on meanwhile; the WAL is truncated after. The migration
        is already committed: a VACUUM that fails (a full disk: it needs the file's size
        again) is logged and the store used as it is, reusing its free pages."""
        mode = first(self.db.execute("PRAGMA auto_vacuum"))
        if mode is None or mode["auto_vacuum"] != 0 or str(self.path) == ":memory:":
            return
        self.db.write_lock.acquire()
        try:
            self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            log.warning(
                "could not compact %s after its migration (%s): it is used as it is", self.path, exc
            )
        finally:
            self.db.write_lock.release()
