"""Draining the outbox: every due delivery is sent through its channel, each channel on
its own thread pool so a failing or slow channel never holds up another, and every
outcome is written back as sent, retrying at a time, or dead.

Each channel has up to NOTIFIER_DELIVERY_CONCURRENCY workers; a worker takes the next
message of its channel, sends it, and writes its outcome on its own store connection
before it takes another. So at most that many sends per channel can have reached the
far end without being marked sent when the process dies (the only possible duplicates
after a restart), and no send waits for another thread to do its bookkeeping. A send
never sleeps for a retry: the next try time lives in the row.

A channel's answer (sent, a retryable error, a final one) is an outcome; a delivery
whose building, rendering or recording raises is a fault (contract section 7, "No
poison"): counted apart (`faults`), retried with backoff and set aside as dead after
FAULT_TRIES, while the worker goes on with the rest of its channel's queue.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from notifier.channels.base import Alert, Channel, Notification, Outcome
from notifier.events import Reason
from notifier.obs.logs import redact
from notifier.obs.metrics import Metrics
from notifier.state import FAULT_TRIES, OutboxRow, Store, is_outage
from notifier.testpress.safetext import clean

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 3600.0


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
        base = min(MAX_DELAY_SECONDS, self.initial_seconds * 2 ** max(0, attempts - 1))
        delay = base * (0.75 + 0.5 * self.jitter())  # about doubles, +-25% jitter
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        return now + min(delay, MAX_DELAY_SECONDS)


@dataclass
class PassResult:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    released: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)


Unit = tuple[OutboxRow, ...]  # the rows one message carries: one, or a whole group


def to_notification(unit: Unit | OutboxRow) -> Notification:
    """The message for one row, or for a group of rows of one rule and channel (their
    alerts in order, under an id derived from the members, stable across retries)."""
    rows = unit if isinstance(unit, tuple) else (unit,)
    alerts = tuple(
        Alert(
            event=a["event"],
            key=str(a["key"]),
            data=a.get("data", {}),
            reasons=tuple(Reason.from_dict(r) for r in a.get("reasons", [])),
        )
        for row in rows
        for a in row.alerts
    )
    first = rows[0]
    if len(rows) == 1:
        id_ = first.id
    else:
        members = "\0".join(sorted(row.id for row in rows))
        id_ = "msg_" + hashlib.sha256(members.encode()).hexdigest()[:28]
    return Notification(
        id=id_, rule=first.rule, channel=first.channel, alerts=alerts, attempt=first.attempts + 1
    )


def into_units(rows: list[OutboxRow]) -> list[Unit]:
    """Rows without a group go alone; rows of one (rule, channel, group) go together."""
    units: dict[tuple[str, str, str], list[OutboxRow]] = {}
    for row in rows:
        key = (row.rule, row.channel, row.group_key or f"\0{row.id}")
        units.setdefault(key, []).append(row)
    return [tuple(members) for members in units.values()]


class Deliverer:
    """Owns one thread pool per channel for the life of the process."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        *,
        concurrency: int,
        policy: RetryPolicy,
        lease_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
        metrics: Metrics | None = None,
        timer: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.metrics = metrics if metrics is not None else Metrics()
        self.channels = dict(channels)
        self.concurrency = concurrency
        self.policy = policy
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.timer = timer  # measures a pass's budget (injectable: tests move it)
        self.stop = stop or threading.Event()
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()  # guards PassResult counts and _worker_stores
        # Workers take turns to write: SQLite would make a waiting writer sleep for
        # milliseconds; a Python lock hands over in microseconds.
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._worker_stores: list[Store] = []

    def set_channels(self, channels: Mapping[str, Channel]) -> None:
        self.channels = dict(channels)

    def _pool(self, channel: str) -> ThreadPoolExecutor:
        pool = self._pools.get(channel)
        if pool is None:
            pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"send-{channel}")
            self._pools[channel] = pool
        return pool

    def run_pass(self, budget: float | None = None) -> PassResult:
        """Send every delivery due now, each channel on its own workers.

        With a `budget` (seconds), no new send starts once it is spent: a slow or paced
        channel (Slack posts about once a second) keeps the rest of its backlog for the
        next pass instead of holding up the next poll. On a stop, sends in flight
        finish and the rest are given back."""
        result = PassResult()
        deadline = None if budget is None else self.timer() + budget
        # Claim in batches until nothing is due (what fails is due later, not now).
        while not self.stop.is_set() and (deadline is None or self.timer() < deadline):
            rows = self.store.claim_due(self.clock(), self.lease_seconds)
            if not rows:
                break
            self._drain(rows, deadline, result)
        return result

    def _drain(self, rows: list[OutboxRow], deadline: float | None, result: PassResult) -> None:
        queues: dict[str, deque[Unit]] = {}
        for unit in into_units(rows):
            channel = unit[0].channel
            if channel not in self.channels:
                outcome = Outcome.final(f"channel {channel!r} is not configured")
                self._record(self.store, unit, outcome, result)
                continue
            queues.setdefault(channel, deque()).append(unit)
        workers = [
            self._pool(name).submit(self._work, name, queue, deadline, result)
            for name, queue in queues.items()
            for _ in range(min(self.concurrency, len(queue)))
        ]
        while not all(worker.done() for worker in workers):
            wait(workers, timeout=0.5)  # wakes for signal handlers now and then
        for worker in workers:
            worker.result()  # a bug in the loop itself must not pass silently
        left = [row.id for queue in queues.values() for unit in queue for row in unit]
        if left:
            self.store.release(left)
            with self._lock:
                result.released += len(left)

    def _work(
        self, name: str, queue: deque[Unit], deadline: float | None, result: PassResult
    ) -> None:
        """One worker: take, send, record, until the channel's queue is empty, the
        budget is spent or a stop is asked."""
        store = self._worker_store()
        channel = self.channels[name]
        while not self.stop.is_set() and (deadline is None or self.timer() < deadline):
            try:
                unit = queue.popleft()
            except IndexError:
                return
            try:
                outcome = channel.send(to_notification(unit))  # renders, then sends
            except Exception as exc:  # noqa: BLE001 - a fault of this row, not the pass's
                self._fault(store, unit, exc, result)
                continue
            try:
                self._record(store, unit, outcome, result)
            except Exception as exc:
                if outcome.ok or is_outage(exc):  # never sent again for a failed write
                    raise  # (the outage case, as before: see contract "Once")
                self._fault(store, unit, exc, result)

    def _worker_store(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self.store.for_thread()
            self._local.store = store
            with self._lock:
                self._worker_stores.append(store)
        return store

    def _record(self, store: Store, unit: Unit, outcome: Outcome, result: PassResult) -> None:
        """Write one message's outcome to every row it carried."""
        now = self.clock()
        first = unit[0]
        what = first.id if len(unit) == 1 else f"{first.id} and {len(unit) - 1} grouped"
        if outcome.ok:
            with self._write_lock:
                store.mark_sent([row.id for row in unit], now)
            with self._lock:
                result.sent += len(unit)
                result.by_channel[first.channel] = result.by_channel.get(first.channel, 0) + len(
                    unit
                )
            self.metrics.delivered(
                first.channel, "sent", len(unit), [now - row.created_at for row in unit]
            )
            log.info(
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
            return
        next_at = self.policy.next_try(outcome, first.attempts + 1, first.created_at, now)
        reason = clean(redact(outcome.reason))  # a far end's text, made storable
        with self._write_lock:
            store.mark_failed_many([row.id for row in unit], now=now, next_at=next_at, error=reason)
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

    def _fault(self, store: Store, unit: Unit, exc: Exception, result: PassResult) -> None:
        """A processing failure of one message's rows: retried with backoff, dead at
        FAULT_TRIES. Reported by type and redacted text; the traceback only once."""
        now = self.clock()
        first = unit[0]
        reason = clean(redact(f"unexpected {type(exc).__name__}: {exc}"))[:500]
        with self._write_lock:
            dead = store.outbox_faulted([row.id for row in unit], now=now, error=reason)
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

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools.clear()
        with self._lock:
            for store in self._worker_stores:
                store.close()
            self._worker_stores.clear()
