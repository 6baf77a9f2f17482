"""The SQLite store's connection: the database of one handle, whose `atomic()` takes the
write lock when it begins, the one write queue per file of this process, and the base
of the store's concerns (each holds the handle's database).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils


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


def write_queue(path: Path) -> _TicketLock:
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
    joined = False  # inside together(): nested blocks join the one transaction

    @contextmanager
    def together(self) -> Iterator[None]:
        """One transaction for several blocks (delivery outcomes written as a group):
        the `atomic()` blocks inside it join it without savepoints, so they commit
        together or not at all; the caller writes each alone again when it fails."""
        with self.atomic():
            self.joined = True
            try:
                yield
            finally:
                self.joined = False

    @contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        if self.conn.in_transaction and self.joined:
            yield self
            return
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


class SqlitePart:
    """A concern of the SQLite store (`store.seen`, `store.outbox`, ...): its queries on
    the database of the handle it belongs to (one connection, one thread)."""

    def __init__(self, db: ImmediateDatabase):
        self.db = db
