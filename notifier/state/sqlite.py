"""The SQLite state store: what has been seen, what must still be sent, and how polls went.

One file, WAL mode. Each connection belongs to one thread: the main loop's, and one per
delivery worker (`for_thread`, opened with `any_thread` so it can be closed at
shutdown). The invariant the delivery guarantees rest on: the seen marks of a cycle and
the outbox rows its matches produce are written in ONE transaction (`record`), so a
crash can never leave an event marked seen without its deliveries queued, nor queued
twice. The outbox half lives in `notifier.state.sqlite_outbox`; the interface both
implement is `notifier.state.base.Store`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from notifier.events import Kept
from notifier.settings import ConfigError
from notifier.state.base import NewDelivery, iso
from notifier.state.migrations import _MIGRATIONS, SCHEMA_VERSION
from notifier.state.rows import first, named
from notifier.state.sqlite_faults import SqliteFaults
from notifier.state.sqlite_history import INACTIVITY_SEEN, SqliteHistory
from notifier.state.sqlite_inbox import SqliteInbox
from notifier.state.sqlite_log import SqliteDeliveryLog
from notifier.state.sqlite_outbox import SqliteOutbox
from notifier.state.sqlite_received import SqliteReceived
from notifier.state.sqlite_rules import SqliteRules
from notifier.state.sqlite_sources import SqliteSourceState


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


class _TicketLock:
    """A first-come, first-served lock: the threads of this process that write to one
    file take turns in the order they asked. SQLite's own wait (the busy timeout)
    polls, with sleeps up to 100 ms, so a connection that writes back to back (the inbox
    writer under a burst of pushes) could keep the lock for the whole timeout and make
    another fail with "database is locked"; in a queue, every writer gets its turn."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next = 0
        self._serving = 0

    def acquire(self) -> None:
        with self._cond:
            ticket = self._next
            self._next += 1
            while ticket != self._serving:
                self._cond.wait()

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


_WRITE_LOCKS: dict[str, _TicketLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> _TicketLock:
    """The one write queue of this process for the file at `path`."""
    key = str(path) if str(path) == ":memory:" else str(path.resolve())
    with _WRITE_LOCKS_GUARD:
        if key == ":memory:":
            return _TicketLock()  # every in-memory database is a database of its own
        return _WRITE_LOCKS.setdefault(key, _TicketLock())


class ImmediateDatabase(sqlite_utils.Database):
    """sqlite-utils' Database whose `atomic()` takes the write lock when it begins.

    Every `atomic()` block of the store writes, and many read first (`claim_due` selects
    the due rows, then claims them). Begun DEFERRED (sqlite-utils' plain `BEGIN`), such
    a block holds a read snapshot; if another connection (the inbox writer's thread, a
    delivery worker) commits before the block's first write, SQLite cannot upgrade the
    stale snapshot and answers "database is locked" at once, without waiting out the
    busy timeout, and the pass fails. `BEGIN IMMEDIATE` waits (up to the busy timeout)
    for the write lock first, so the block then reads and writes without a conflict.
    Nested blocks stay savepoints, as in sqlite-utils. The connections of this process
    queue for the lock first (`_TicketLock`); other processes (a `notifier status`)
    meet it through the busy timeout."""

    write_lock: _TicketLock

    @contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        if self.conn.in_transaction:
            with super().atomic() as db:  # a savepoint inside the outer transaction
                yield db
            return
        self.write_lock.acquire()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self.rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback()
                raise
        finally:
            self.write_lock.release()


class SqliteStore(
    SqliteOutbox,
    SqliteSourceState,
    SqliteInbox,
    SqliteReceived,
    SqliteHistory,
    SqliteDeliveryLog,
    SqliteFaults,
):
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
        self.db.write_lock = _write_lock(self.path)
        self.db.execute("PRAGMA busy_timeout = 5000")
        if str(path) != ":memory:":
            self._enable_wal()
        self.db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()
        self.rules = SqliteRules(self.db)  # the rules' versions: a concern of its own

    def close(self) -> None:
        self.db.close()

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
        version = self.get_meta("schema_version") if "meta" in self.db.table_names() else None
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
            current = self._schema_version()
            for target, script in _MIGRATIONS:
                if current < target:
                    for statement in script.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self._set_meta("schema_version", str(target))
                    current = target
        except BaseException:
            self.db.conn.rollback()
            raise
        self.db.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = first(self.db.execute("SELECT value FROM meta WHERE key = ?", [key]))
        return None if row is None else row["value"]

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def set_meta(self, key: str, value: str) -> None:
        with self.db.atomic():
            self._set_meta(key, value)

    # -- seen -----------------------------------------------------------------------------

    def has_baseline(self, source: str) -> bool:
        return self.get_meta(f"baseline:{source}") is not None

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
        state: dict[str, Any] | None = None,
        now: float | None = None,
        history: Iterable[Kept] = (),
    ) -> int:
        """Mark keys seen, queue deliveries, save the source's cursor `state` and keep
        the events' `history`, in one transaction. Returns how many deliveries were new
        (an existing (rule, key, channel) is never queued twice)."""
        now = time.time() if now is None else now
        with self.db.atomic():
            if state:
                self._put_state(source, state, now)
            self._write_history(history)
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO seen(source, key, seen_at) VALUES (?, ?, ?)",
                [(source, key, now) for key in seen_keys],
            )
            before = self.db.conn.total_changes
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO outbox(id, rule, channel, event, event_key, alerts, "
                "status, attempts, next_at, created_at, updated_at, group_key) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)",
                [
                    (
                        d.id,
                        d.rule,
                        d.channel,
                        d.event,
                        d.event_key,
                        json.dumps(d.alerts, default=str),
                        now if d.not_before is None else d.not_before,
                        now,
                        now,
                        d.group,
                    )
                    for d in deliveries
                ],
            )
            added = self.db.conn.total_changes - before
            if baseline:
                self._set_meta(f"baseline:{source}", iso(now) or "")
        return added

    def prune(
        self, *, seen_before: float, sent_before: float, dead_before: float
    ) -> dict[str, int]:
        """Forget what can no longer matter, so the store stays bounded over months:
        seen keys older than any poll can reach again, sent deliveries as old, dead
        deliveries never replayed (kept 30 days by the caller), stale cache entries."""
        with self.db.atomic():
            counts = {
                "seen": self.db.execute(
                    "DELETE FROM seen WHERE seen_at < ? AND source != ?",
                    [seen_before, INACTIVITY_SEEN],
                ).rowcount,
                "sent": self.db.execute(
                    "DELETE FROM outbox WHERE status = 'sent' AND updated_at < ?", [sent_before]
                ).rowcount,
                "dead": self.db.execute(
                    "DELETE FROM outbox WHERE status = 'dead' AND updated_at < ?", [dead_before]
                ).rowcount,
                "cache": self.db.execute(
                    "DELETE FROM state WHERE scope = 'lookups' AND updated_at < ?", [dead_before]
                ).rowcount,
            }
        return counts


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
