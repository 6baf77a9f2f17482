"""The last stage: a message's outcome written to every row it carried, as sent (with
the receiver's id for the message), retrying at a time, or dead; and a message whose
processing raised recorded as a fault (contract section 7, "No poison"): counted apart,
retried with backoff, set aside as dead after FAULT_TRIES.

Outcomes are written by group commit (`notifier.delivery.commit`): the outcomes workers
hand in while another is writing go in one transaction, each worker waiting for its own
to commit before it takes another message (so a send not yet recorded still counts as in
flight). Writers take turns (`write_lock`): SQLite would make a waiting writer sleep for
milliseconds; a Python lock hands over in microseconds.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from notifier.channels.base import Outcome
from notifier.delivery.commit import GroupCommit, Sent, Write
from notifier.delivery.stages import MUTED, Job, Mutes, PassResult, Unit, to_notification
from notifier.obs.logs import redact
from notifier.obs.metrics import Metrics
from notifier.state import FAULT_TRIES, DeliveryStore
from notifier.state.actions_base import MuteRecord
from notifier.testpress.safetext import clean

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 3600.0
RECORD_RETRY_MAX_SECONDS = 2.0  # a send's outcome is written again at least this often
RECORD_TRIES_ON_STOP = 3


@dataclass(frozen=True)
class RetryPolicy:
    initial_seconds: float = 5.0
    max_hours: float = 24.0
    jitter: Callable[[], float] = random.random

    def next_try(
        self, outcome: Outcome, attempts: int, created_at: float, now: float
    ) -> float | None:
        """When to try again after `attempts` failed tries, or None for dead: the
        failure is final, or the delivery has been failing for `max_hours`."""
        if not outcome.retryable or now - created_at >= self.max_hours * 3600:
            return None
        base = min(MAX_DELAY_SECONDS, self.initial_seconds * 2.0 ** max(0, attempts - 1))
        delay = base * (0.75 + 0.5 * self.jitter())  # about doubles, +-25% jitter
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        return now + min(delay, MAX_DELAY_SECONDS)


class RecordStage:
    """Writes outcomes and faults; counts them in the pass's tally and the metrics."""

    def __init__(
        self,
        retry: RetryPolicy,
        metrics: Metrics,
        clock: Callable[[], float],
        write_lock: threading.Lock,
        tally_lock: threading.Lock,
        stop: threading.Event | None = None,
        mutes: Mutes | None = None,
    ):
        self.retry = retry
        self.stop = stop or threading.Event()
        self.metrics = metrics
        self.clock = clock
        self._write_lock = write_lock
        self._lock = tally_lock
        # The mutes each worker's next message is checked against, read once a batch
        # is written (`notifier.delivery.commit`).
        self.commits: GroupCommit[Sequence[MuteRecord]] = GroupCommit(
            write_lock, mutes.read if mutes is not None else None
        )

    def __call__(self, job: Job) -> Job:
        """Write one message's outcome to every row it carried (with the receiver's id
        for it, when it was sent and has one)."""
        if job.outcome is None:
            raise RuntimeError("no outcome to record")  # a chain composed wrongly
        if job.muted:
            job.next_mutes = self.hold(job)
        if job.outcome is not MUTED:
            job.next_mutes = self.record(job.store, job.rows, job.outcome, job.tally)
        return job

    def hold(self, job: Job) -> Sequence[MuteRecord] | None:
        """Keep the rows a mute holds as `muted`: never sent by themselves. Returns the
        mutes read once that was written (`GroupCommit.write`)."""
        held, now = job.muted, self.clock()
        what = ", ".join(sorted(held))
        read = self._until_recorded(what, job.store, lambda store: store.mutes.hold(held, now))
        with self._lock:
            job.tally.muted += len(held)
        log.debug(  # one a delivery, as sends are; the cycle's summary counts them
            "delivery %s (%s -> %s) muted by %s",
            what,
            job.rows[0].rule,
            job.rows[0].channel,
            ", ".join(sorted(set(held.values()))),
            extra={"delivery": what, "outcome": "muted"},
        )
        return read

    def _until_recorded(
        self, what: str, store: DeliveryStore, write: Write
    ) -> Sequence[MuteRecord] | None:
        """Write a send's outcome, trying again while the store is away (a PostgreSQL
        restart, a full disk): the message went out, and until that is recorded its row
        stays claimed by this replica, so no one sends it again (contract section 7: an
        outage is not a kill). A stop gives up after RECORD_TRIES_ON_STOP more tries;
        the send is then in flight as at a kill. The write goes in with the outcomes
        other workers hand in meanwhile (group commit), and returns once committed, with
        the mutes read then (`GroupCommit.write`)."""
        delay, tries_on_stop, warned = 0.05, RECORD_TRIES_ON_STOP, False
        while True:
            try:
                read = self.commits.write(store, write)
                if warned:
                    log.info("delivery %s: its outcome is recorded now", what)
                return read
            except Exception as exc:  # noqa: BLE001 - the store's own errors vary by backend
                if self.stop.is_set():
                    tries_on_stop -= 1
                    if tries_on_stop <= 0:
                        raise
                if not warned:
                    log.warning(
                        "delivery %s: cannot record its outcome (%s); trying again until "
                        "the state store answers",
                        what,
                        type(exc).__name__,
                    )
                    warned = True
                time.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX_SECONDS)

    def record(
        self, store: DeliveryStore, unit: Unit, outcome: Outcome, result: PassResult
    ) -> Sequence[MuteRecord] | None:
        """Write the outcome; returns the mutes read once it was (`GroupCommit.write`)."""
        now = self.clock()
        first = unit[0]
        what = first.id if len(unit) == 1 else f"{first.id} and {len(unit) - 1} grouped"
        if outcome.ok:
            ref = outcome.ref.to_json() if outcome.ref else None
            answer = clean(redact(outcome.answer))
            write: Write = (
                Sent((first.id, now, ref, answer))
                if len(unit) == 1
                else lambda s: self._sent(s, unit, now, ref, answer)
            )
            read = self._until_recorded(what, store, write)
            with self._lock:
                result.sent += len(unit)
                result.by_channel[first.channel] = result.by_channel.get(first.channel, 0) + len(
                    unit
                )
            self.metrics.delivered(
                first.channel, "sent", len(unit), [now - row.created_at for row in unit]
            )
            if log.isEnabledFor(logging.DEBUG):  # the dict below costs, sent or not
                log.debug(  # one a delivery: DEBUG; the cycle's summary line counts them
                    "delivery %s (%s -> %s) sent",
                    what,
                    first.rule,
                    first.channel,
                    extra={
                        "delivery": first.id,
                        "rule": first.rule,
                        "channel": first.channel,
                        "outcome": "sent",
                        "rows": len(unit),
                    },
                )
            return read
        next_at = self.retry.next_try(outcome, first.attempts + 1, first.created_at, now)
        reason = clean(redact(outcome.reason))  # a far end's text, made storable
        answer = clean(redact(outcome.answer))
        read = self._until_recorded(
            what,
            store,
            lambda s: s.outbox.mark_failed_many(
                [row.id for row in unit], now=now, next_at=next_at, error=reason, answer=answer
            ),
        )
        outcome_name = "dead" if next_at is None else "retry"
        self.metrics.delivered(first.channel, outcome_name, len(unit))
        extra = {
            "delivery": first.id,
            "rule": first.rule,
            "channel": first.channel,
            "outcome": outcome_name,
            "rows": len(unit),
        }
        with self._lock:
            if next_at is None:
                result.dead += len(unit)
            else:
                result.retrying += len(unit)
        if next_at is None:
            log.error(
                "delivery %s (%s -> %s) is dead: %s",
                what,
                first.rule,
                first.channel,
                reason,
                extra=extra,
            )
        else:
            log.warning(
                "delivery %s (%s -> %s) failed, retry in %.0fs: %s",
                what,
                first.rule,
                first.channel,
                next_at - now,
                reason,
                extra=extra,
            )
        return read

    @staticmethod
    def _sent(store: DeliveryStore, unit: Unit, now: float, ref: str | None, answer: str) -> None:
        """Mark the rows sent (and keep the try); a group's message id is kept with its
        rows, so an action on the message (a click names it) finds them."""
        ids = [row.id for row in unit]
        if len(unit) > 1:
            store.follow_ups.name_message(to_notification(unit).id, ids)
        store.outbox.mark_sent(ids, now, ref=ref, answer=answer)

    def fault(self, job: Job, exc: Exception) -> None:
        """A processing failure of one message's rows: retried with backoff, dead at
        FAULT_TRIES. Reported by type and redacted text; the traceback only once. The
        members a mute holds are kept as `muted` first: the fault is the rest's."""
        job.next_mutes = None  # written alone: the next message reads the mutes itself
        if job.muted:
            self.hold(job)
        store, unit, result = job.store, job.rows, job.tally
        now = self.clock()
        first = unit[0]
        reason = clean(redact(f"unexpected {type(exc).__name__}: {exc}"))[:500]
        with self._write_lock:
            dead = store.faults.outbox_faulted([row.id for row in unit], now=now, error=reason)
        self.metrics.delivered(first.channel, "dead" if dead else "retry", len(unit))
        with self._lock:
            if dead:
                result.dead += len(unit)
            else:
                result.retrying += len(unit)
        extra = {"delivery": first.id, "rule": first.rule, "channel": first.channel}
        if dead:
            log.error(
                "delivery %s (%s -> %s) set aside as dead after %d failed tries: %s",
                first.id,
                first.rule,
                first.channel,
                FAULT_TRIES,
                reason,
                extra=extra,
            )
        else:
            log.warning(
                "delivery %s (%s -> %s) failed in processing, retrying: %s",
                first.id,
                first.rule,
                first.channel,
                reason,
                extra=extra,
                exc_info=exc,
            )


__all__ = ["MAX_DELAY_SECONDS", "RecordStage", "RetryPolicy"]
