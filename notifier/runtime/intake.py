"""The push half of the run loop: pushed webhooks, from the inbox to queued deliveries.

The endpoints only record a verified payload (state store `Inbox`) and wake the loop;
the loop's thread processes pending rows here, so pushes and polls never race: the
events come from `notifier.sources.pushed` (the poll's models and join), are evaluated
and planned as a poll's are, and recorded with their seen marks in one transaction per
source. Push and poll therefore alert once between them, in either order.

A completion whose detail cannot be read is tried again a little later, a few times,
then left to the poll: it was not marked seen, so the poll still alerts on it.

A row whose processing raises (contract section 7, "No poison") never holds back its
batch: the batch is processed again row by row, and the row that raises alone counts a
try, waits with backoff (notifier.state.base.fault_retry_at) and, after FAULT_TRIES, is
set aside as dead with its error (`notifier status`, `notifier_poisoned_rows`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from notifier.events import Kept
from notifier.obs.logs import redact
from notifier.obs.summary import PushSummary, PushTally
from notifier.rules.schema import Rule
from notifier.sources import pushed
from notifier.sources.base import PollResult, Source
from notifier.state import (
    Faults,
    Inbox,
    InboxRow,
    NewDelivery,
    PollStore,
    fault_retry_at,
    is_outage,
)
from notifier.testpress.client import TestpressClient
from notifier.testpress.safetext import clean

log = logging.getLogger(__name__)

INBOX_BATCH = 500  # pushed webhooks processed at a time
RETRY_TICK = 5.0  # seconds between delivery passes while waiting for the next poll
WAKE_SLICE = 0.2  # seconds between checks of `stop` while waiting for a push or a poll
MAX_BATCHES = 20  # at most this many batches before the loop gets on with polling
INBOX_RETRY_SECONDS = 30.0  # a completion whose detail could not be read waits this long
INBOX_TRIES = 5  # then it is left to the poll
INBOX_KEPT = 86400.0  # processed webhooks are kept a day, for inspection

# The App's evaluation and planning of a batch: its deliveries, and its history to keep.
Plan = Callable[[str, PollResult, float], tuple[list[NewDelivery], list[Kept]]]


@dataclass
class PushCounts:
    """What push has brought since start (`demo` prints it)."""

    webhooks: int = 0
    completions: int = 0
    queued: int = 0
    # The first alerts that came by push: "[rule] student, title" (for `demo`).
    examples: list[str] = field(default_factory=list)

    def note(self, deliveries: list[NewDelivery]) -> None:
        for d in deliveries:
            first = d.alerts[0].get("data") if d.alerts else None
            data = first if isinstance(first, Mapping) else {}
            who = data.get("student") or f"attempt {d.event_key}"
            what = data.get("exam_title") or data.get("title") or ""
            line = f"[{d.rule}] {who}" + (f", {what}" if what else "")
            if len(self.examples) < 10 and line not in self.examples:
                self.examples.append(line)


class IntakeStore(PollStore, Protocol):
    """What processing the inbox uses: its rows, what a source's poll uses (the
    payload's events are confirmed and recorded as a poll's), and setting a poisoned
    row aside."""

    inbox: Inbox
    faults: Faults


class Intake:
    """Processes the inbox with the App's store, client and sources; `plan` is the
    App's evaluation and delivery planning, the same a poll's events go through."""

    def __init__(
        self,
        store: IntakeStore,
        client: TestpressClient,
        sources: Mapping[str, Source],
        clock: Callable[[], float],
        plan: Plan,
    ):
        self.store = store
        self.client = client
        self.sources = sources
        self.clock = clock
        self.plan = plan
        self.counts = PushCounts()
        # One INFO line a minute of pushes; each batch at DEBUG (notifier.obs.summary).
        self.summary = PushSummary(log, clock)

    def process(self, rules: Sequence[Rule], sources_in_use: Collection[str]) -> int:
        """Process every pending row due now, a batch at a time; returns the
        deliveries queued. Each row ends done or waiting for a retry, so this ends."""
        queued = 0
        self.summary.tick()
        for _ in range(MAX_BATCHES):
            now = self.clock()
            rows = self.store.inbox.inbox_pending(now, INBOX_BATCH)
            if rows:
                queued += self._batch(rows, rules, sources_in_use, now)
            if len(rows) < INBOX_BATCH:
                break
        return queued

    def _batch(
        self,
        rows: list[InboxRow],
        rules: Sequence[Rule],
        sources_in_use: Collection[str],
        now: float,
    ) -> int:
        """The rows together; when that raises, one by one, so only the row that
        raises on its own counts a failed try and the others go through."""
        try:
            return self._rows(rows, rules, sources_in_use, now)
        except Exception as exc:  # noqa: BLE001 - poison is isolated, never fatal
            if is_outage(exc):
                raise  # the store, not a row: every row waits (App.process_inbox)
            if len(rows) == 1:
                self._fault(rows[0], exc, now)
                return 0
            log.warning(
                "a batch of %d pushed webhooks failed (%s); processing them one by one",
                len(rows),
                type(exc).__name__,
            )
        queued = 0
        for row in rows:
            try:
                queued += self._rows([row], rules, sources_in_use, now)
            except Exception as exc:  # noqa: BLE001
                if is_outage(exc):
                    raise
                self._fault(row, exc, now)
        return queued

    def _fault(self, row: InboxRow, exc: Exception, now: float) -> None:
        """One failed processing try of `row`: retried with backoff, dead at the last.
        The traceback is logged on the first try only (not one every retry)."""
        message = clean(redact(f"{type(exc).__name__}: {exc}"))[:500]
        tries = row.tries + 1
        next_at = fault_retry_at(tries, now)
        if next_at is None:
            log.error(
                "pushed webhook %d set aside as dead after %d failed tries: %s",
                row.id,
                tries,
                message,
            )
            self.store.faults.inbox_dead([row.id], now, message)
            return
        log.warning(
            "pushed webhook %d failed in processing (try %d), retry in %.0f s: %s",
            row.id,
            tries,
            next_at - now,
            message,
            exc_info=exc if row.tries == 0 else None,
        )
        self.store.inbox.inbox_retry([row.id], now=now, next_at=next_at, error=message)

    def _rows(
        self,
        rows: list[InboxRow],
        rules: Sequence[Rule],
        sources_in_use: Collection[str],
        now: float,
    ) -> int:
        batch = pushed.process(rows, self.client, self.store, rules, sources_in_use)
        queued = 0
        for name, polled in batch.results.items():
            deliveries, kept = self.plan(name, polled, now)
            queued += self.store.seen.record(name, polled.seen, deliveries, now=now, history=kept)
            self.counts.note(deliveries)
        watch: object = getattr(self.sources.get("attempts"), "watch", None)
        if batch.watch and callable(watch):
            watch(self.store, batch.watch, now)
        tries = {row.id: row.tries for row in rows}
        for row_id, error in batch.retry.items():
            message = redact(error)[:500]
            if tries[row_id] + 1 >= INBOX_TRIES:
                log.warning("pushed webhook %d left to the poll: %s", row_id, message)
                self.store.inbox.inbox_done([row_id], now, error=message)
            else:
                self.store.inbox.inbox_retry(
                    [row_id], now=now, next_at=now + INBOX_RETRY_SECONDS, error=message
                )
        self.store.inbox.inbox_done(batch.done, now)
        completions = sum(batch.received.values())
        self.counts.webhooks += len(rows)
        self.counts.completions += completions
        self.counts.queued += queued
        log.debug(
            "push: %d webhooks, %d completions, %d deliveries queued",
            len(rows),
            completions,
            queued,
        )
        self.summary.add(
            PushTally(
                webhooks=len(rows),
                new=batch.confirmed,
                queued=queued,
                started=batch.started,
                seen=batch.seen,
                refuted=batch.refuted,
                retrying=len(batch.retry),
            )
        )
        return queued


def between_polls(
    next_poll: float,
    *,
    stop: threading.Event,
    wake: threading.Event,
    process: Callable[[], int],
    deliver: Callable[[], object],
    poll_now: Callable[[], bool] = lambda: False,
) -> None:
    """What the run loop does until `next_poll` (monotonic): each wake (a webhook
    recorded) processes the inbox and, when that queued something, runs a delivery
    pass at once; and every RETRY_TICK seconds a delivery pass sends the retries come
    due, so a long poll interval (push on) never delays them. Returns early on `stop`,
    and when `poll_now()` (a replica that just took over polling)."""
    next_pass = time.monotonic() + RETRY_TICK
    while not stop.is_set():
        remaining = next_poll - time.monotonic()
        if remaining <= 0 or poll_now():
            return
        woken = wake.wait(min(WAKE_SLICE, remaining))
        if woken:
            wake.clear()
            if not process():
                continue
        elif time.monotonic() < next_pass:
            continue
        next_pass = time.monotonic() + RETRY_TICK
        try:
            deliver()
        except Exception:  # noqa: BLE001 - as a cycle's: the loop never dies
            log.exception("delivery pass between polls failed")
