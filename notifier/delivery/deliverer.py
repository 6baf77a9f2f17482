"""Draining the outbox: every due delivery is sent through its channel, each channel on
its own thread pool so a failing or slow channel never holds up another, and every
outcome is written back as sent, retrying at a time, or dead.

Each channel has up to NOTIFIER_DELIVERY_CONCURRENCY workers; a worker takes the next
message of its channel, sends it, and hands its outcome to the group commit
(`notifier.delivery.commit`: the outcomes handed in meanwhile, of any channel, go in one
transaction), waiting until it has committed before it takes another. So at most that
many sends per channel can have reached the far end without being marked sent when the
process dies (the only possible duplicates after a restart): a send waiting in a batch
is in flight. A send never sleeps for a retry: the next try time lives in the row.

What a worker does with one message is the delivery chain (`notifier.delivery.chain`:
mute, render, send, record, composed in one place); this module owns the claiming, the
per-channel pools and the budget. A channel's answer (sent, a retryable error, a final
one) is an outcome; a delivery whose building, rendering or recording raises is a fault
(contract section 7, "No poison"): counted apart (`faults`), retried with backoff and set
aside as dead after FAULT_TRIES, while the worker goes on with the rest of its channel's
queue.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from notifier.channels.base import SomeChannel
from notifier.delivery.chain import Chain, compose
from notifier.delivery.record import RecordStage, RetryPolicy
from notifier.delivery.stages import Job, Mutes, PassResult, Unit, into_units, to_notification
from notifier.obs.metrics import Metrics
from notifier.rules.templates import NO_TEMPLATES, TemplateTable
from notifier.state import DeliveryStore, OutboxRow
from notifier.state.actions_base import MuteRecord

__all__ = ["Deliverer", "PassResult", "RetryPolicy", "into_units", "to_notification"]


class Deliverer:
    """Owns one thread pool per channel for the life of the process."""

    def __init__(
        self,
        store: DeliveryStore,
        channels: Mapping[str, SomeChannel],
        *,
        templates: TemplateTable = NO_TEMPLATES,
        mutes: Mutes | None = None,
        console_url: str | None = None,
        slack_buttons: bool = False,
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
        self._worker_stores: list[DeliveryStore] = []
        self.mutes = mutes
        self.console_url = console_url  # NOTIFIER_CONSOLE_URL: messages link the console
        self.slack_buttons = slack_buttons
        self.record = RecordStage(
            policy,
            self.metrics,
            lambda: self.clock(),
            self._write_lock,
            self._lock,
            self.stop,
            mutes=mutes,
        )
        self.chain = self._compose(templates)

    def _compose(self, templates: TemplateTable) -> Chain:
        return compose(
            self.record,
            templates=templates,
            mutes=self.mutes,
            console_url=self.console_url,
            slack_buttons=self.slack_buttons,
        )

    def set_channels(
        self, channels: Mapping[str, SomeChannel], templates: TemplateTable | None = None
    ) -> None:
        """Send through these channels from now on, rendering with these rules'
        templates (a reload gives both; a message in flight finishes as it began)."""
        self.channels = dict(channels)
        if templates is not None:
            self.chain = self._compose(templates)

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
        # Claim in batches until nothing is due (what fails is due later, not now). The
        # next batch is claimed while this one is sent: the claim (reading and decoding
        # the rows) would otherwise leave every worker, and the far end, idle.
        rows = self._claim(deadline)
        while rows:
            workers, queues = self._start(rows, deadline, result)
            try:
                rows = self._claim(deadline)
            finally:  # the store failing the claim: what this batch holds ends first
                self._finish(workers, queues, result)
        return result

    def _claim(self, deadline: float | None) -> list[OutboxRow]:
        if self.stop.is_set() or (deadline is not None and self.timer() >= deadline):
            return []
        return self.store.outbox.claim_due(self.clock(), self.lease_seconds)

    def _start(
        self, rows: list[OutboxRow], deadline: float | None, result: PassResult
    ) -> tuple[list[Future[None]], dict[str, deque[Unit]]]:
        queues: dict[str, deque[Unit]] = {}
        chain = self.chain
        for unit in into_units(rows):
            channel = unit[0].channel
            if channel not in self.channels:  # the chain records it as final
                chain.run(Job(unit, None, self.store, result))
                continue
            queues.setdefault(channel, deque()).append(unit)
        workers = [
            self._pool(name).submit(self._work, chain, name, queue, deadline, result)
            for name, queue in queues.items()
            for _ in range(min(self.concurrency, len(queue)))
        ]
        return workers, queues

    def _finish(
        self, workers: list[Future[None]], queues: dict[str, deque[Unit]], result: PassResult
    ) -> None:
        while not all(worker.done() for worker in workers):
            wait(workers, timeout=0.5)  # wakes for signal handlers now and then
        for worker in workers:
            worker.result()  # a bug in the loop itself must not pass silently
        left = [row.id for queue in queues.values() for unit in queue for row in unit]
        if left:
            self.store.outbox.release(left)
            with self._lock:
                result.released += len(left)

    def _work(
        self,
        chain: Chain,
        name: str,
        queue: deque[Unit],
        deadline: float | None,
        result: PassResult,
    ) -> None:
        """One worker: each message of its channel through the chain, until the queue is
        empty, the budget is spent or a stop is asked."""
        store = self._worker_store()
        channel = self.channels[name]
        mutes: Sequence[MuteRecord] | None = None  # read after the previous send (`Job`)
        while not self.stop.is_set() and (deadline is None or self.timer() < deadline):
            try:
                unit = queue.popleft()
            except IndexError:
                return
            job = Job(unit, channel, store, result, mutes=mutes)
            chain.run(job)
            mutes = job.next_mutes

    def _worker_store(self) -> DeliveryStore:
        store: DeliveryStore | None = getattr(self._local, "store", None)
        if store is None:
            store = self.store.for_thread()
            self._local.store = store
            with self._lock:
                self._worker_stores.append(store)
        return store

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools.clear()
        with self._lock:
            for store in self._worker_stores:
                store.close()
            self._worker_stores.clear()
