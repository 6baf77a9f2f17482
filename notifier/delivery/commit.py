"""Group commit of delivery outcomes: the outcomes that workers hand in while another
worker is writing are written together, in one transaction, by the next worker whose
turn it is (the leader), instead of one commit each.

Why this keeps the contract's duplicate bound ("Once": at most
NOTIFIER_DELIVERY_CONCURRENCY sends per channel made again after a kill): a worker
that hands in its outcome waits until the transaction holding it has committed before
it takes its next message. So a send whose outcome is waiting in a batch still holds
its worker, and it counts as in flight exactly like a send on the wire; a channel's
sends in flight or waiting to be recorded are never more than its workers. A kill
before the batch's commit loses the whole batch's records (they commit together or
not at all): those sends are made again, and they are among those in flight.

Once a batch is written, its leader makes one read for all of its workers (`then`:
the mutes their next messages are checked against, `notifier.actions.mutes`): their
sends have completed, so it sees whatever a read of each of them would have, with one
call into SQLite instead of one each (every call hands the interpreter lock to another
thread and back: figure d's fifth pass, `docs/performance.md`).

Each outcome's own writes (its rows, the try kept in `outbox_tries`, a group's message
id, the muted rows) stay one unit: when a batch fails on something other than an
outage, each outcome is written again alone, so one outcome's failure is its own and
the others are kept; an outage fails the batch and every worker tries again (the
record stage's loop), as a single write did before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from notifier.state import DeliveryStore, SentRow, is_outage

log = logging.getLogger(__name__)

Write = Callable[[DeliveryStore], None]  # one outcome's writes, on the store given
R = TypeVar("R")


@dataclass(frozen=True)
class Sent:
    """The usual outcome: one row sent. A batch of nothing else is written by one call
    (`Outbox.mark_sent_each`: one statement on SQLite) instead of a transaction of two
    statements each; alone (a batch that failed, written one by one) it is a Write."""

    row: SentRow

    def __call__(self, store: DeliveryStore) -> None:
        store.outbox.mark_sent_each([self.row])


@dataclass(eq=False)
class _Handed(Generic[R]):
    """One outcome handed in: its writes, and how they went once the batch is done."""

    write: Write
    done: bool = False
    error: BaseException | None = None
    then: R | None = None  # what the leader read for the batch once it was written


class GroupCommit(Generic[R]):
    """Where workers hand in their outcomes; see the module's docstring."""

    def __init__(
        self,
        write_lock: threading.Lock,
        then: Callable[[DeliveryStore], R] | None = None,
    ):
        self._write_lock = write_lock  # also taken by the faults' own writes
        self._then = then  # the leader's read for the batch (None: none)
        self._cond = threading.Condition(threading.Lock())  # not reentrant: cheaper
        self._waiting: list[_Handed[R]] = []
        self._writing = False
        self._asleep = 0  # workers waiting for a batch to commit (none: no wake-up)
        self.batches = 0  # transactions committed, for the figures (bench d)
        self.outcomes = 0

    def waiting(self) -> int:
        """Outcomes handed in and not yet taken into a transaction."""
        with self._cond:
            return len(self._waiting)

    def write(self, store: DeliveryStore, write: Write) -> R | None:
        """Return once `write` has committed (with whatever others handed in meanwhile),
        or raise what it raised. `store` is this worker's own handle: it writes the
        batch when this worker leads. Returns what the leader read once the batch was
        written (`then`; None when there is no such read or it failed)."""
        mine: _Handed[R] = _Handed(write)
        with self._cond:
            self._waiting.append(mine)
            while self._writing and not mine.done:
                self._asleep += 1
                self._cond.wait()
                self._asleep -= 1
            if not mine.done:  # this worker leads: it takes everything handed in
                self._writing = True
                batch, self._waiting = self._waiting, []
        if not mine.done:
            try:
                self._commit(store, batch)
                self._read_after(store, batch)
            finally:
                with self._cond:
                    for handed in batch:
                        handed.done = True
                    self._writing = False
                    if self._asleep:
                        self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.then

    def _read_after(self, store: DeliveryStore, batch: list[_Handed[R]]) -> None:
        """The leader's one read for its batch. A failure here is no outcome's: each
        worker then reads for itself (and meets the failure where it is handled)."""
        if self._then is None:
            return
        try:
            then = self._then(store)
        except Exception as exc:  # noqa: BLE001 - the workers read again themselves
            level = logging.DEBUG if is_outage(exc) else logging.WARNING
            log.log(level, "the read after a group commit failed: %s", type(exc).__name__)
            return
        for handed in batch:
            handed.then = then

    def _commit(self, store: DeliveryStore, batch: list[_Handed[R]]) -> None:
        with self._write_lock:
            try:
                _write_all(store, batch)
            except Exception as exc:
                if len(batch) == 1 or is_outage(exc):
                    for handed in batch:
                        handed.error = exc
                    return
                self._one_by_one(store, batch)  # whose write failed is told; the rest kept
                return
            except BaseException as exc:
                for handed in batch:
                    handed.error = exc
                raise
            self.batches += 1
            self.outcomes += len(batch)

    def _one_by_one(self, store: DeliveryStore, batch: list[_Handed[R]]) -> None:
        for handed in batch:
            try:
                with store.together():
                    handed.write(store)
            except Exception as exc:  # noqa: BLE001 - given to the worker whose write it was
                handed.error = exc
            else:
                self.batches += 1
                self.outcomes += 1


def _write_all(store: DeliveryStore, batch: list[_Handed[R]]) -> None:
    """Every write of the batch, in one transaction."""
    sent = [handed.write.row for handed in batch if isinstance(handed.write, Sent)]
    if len(sent) == len(batch):
        store.outbox.mark_sent_each(sent)
        return
    with store.together():
        for handed in batch:
            handed.write(store)


__all__ = ["GroupCommit", "Sent", "Write"]
