"""Draining the outbox: every due delivery is sent through its channel, each channel on
its own thread pool so a failing or slow channel never holds up another, and every
outcome is written back as sent, retrying at a time, or dead.

The store is touched only from the calling thread; worker threads only call
`channel.send`. A send never sleeps for a retry: the next try time lives in the row.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from notifier.channels.base import Alert, Channel, Notification, Outcome, Reason
from notifier.logs import redact
from notifier.store import OutboxRow, Store

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
    ):
        self.store = store
        self.channels = dict(channels)
        self.concurrency = concurrency
        self.policy = policy
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.stop = stop or threading.Event()
        self._pools: dict[str, ThreadPoolExecutor] = {}

    def set_channels(self, channels: Mapping[str, Channel]) -> None:
        self.channels = dict(channels)

    def _pool(self, channel: str) -> ThreadPoolExecutor:
        pool = self._pools.get(channel)
        if pool is None:
            pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"send-{channel}")
            self._pools[channel] = pool
        return pool

    def run_pass(self, budget: float | None = None) -> PassResult:
        """Send every delivery due now and record each outcome as it arrives.

        At most `concurrency` sends per channel are handed to threads at a time, and the
        next one only after an outcome has been recorded: so when the process dies, at
        most `concurrency` sends per channel can have reached the far end without being
        marked sent (the only possible duplicates after a restart).

        With a `budget` (seconds), nothing new is handed out once it is spent: a slow or
        paced channel (Slack posts about once a second) keeps the rest of its backlog
        for the next pass instead of holding up the next poll."""
        result = PassResult()
        deadline = None if budget is None else time.monotonic() + budget
        # Claim in batches until nothing is due (what fails is due later, not now).
        while not self.stop.is_set() and (deadline is None or time.monotonic() < deadline):
            rows = self.store.claim_due(self.clock(), self.lease_seconds)
            if not rows:
                break
            self._drain(rows, deadline, result)
        return result

    def _drain(self, rows: list[OutboxRow], deadline: float | None, result: PassResult) -> None:
        waiting: dict[str, deque[Unit]] = {}
        for unit in into_units(rows):
            channel = unit[0].channel
            if channel not in self.channels:
                self._record(unit, Outcome.final(f"channel {channel!r} is not configured"), result)
                continue
            waiting.setdefault(channel, deque()).append(unit)
        pending: dict[Future[Outcome], Unit] = {}
        in_flight: dict[str, int] = dict.fromkeys(waiting, 0)

        def fill(name: str) -> None:
            queue = waiting[name]
            while queue and in_flight[name] < self.concurrency and not self.stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    return
                unit = queue.popleft()
                try:
                    notification = to_notification(unit)
                except (KeyError, TypeError, ValueError) as exc:  # a row no send can use
                    self._record(unit, Outcome.final(f"unreadable outbox row ({exc!r})"), result)
                    continue
                future = self._pool(name).submit(_safe_send, self.channels[name], notification)
                pending[future] = unit
                in_flight[name] += 1

        for name in waiting:
            fill(name)
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            finished = [(pending.pop(future), future.result()) for future in done]
            # Every send finished in this batch is marked in one transaction, before
            # any further send is handed out.
            self._record_sent([unit for unit, outcome in finished if outcome.ok], result)
            for unit, outcome in finished:
                if not outcome.ok:
                    self._record(unit, outcome, result)
            for unit, _ in finished:
                in_flight[unit[0].channel] -= 1
            for name in {unit[0].channel for unit, _ in finished}:
                fill(name)
            if self.stop.is_set():
                self._release_waiting(waiting, result)
        self._release_waiting(waiting, result)

    def _record_sent(self, units: list[Unit], result: PassResult) -> None:
        if not units:
            return
        self.store.mark_sent([row.id for unit in units for row in unit], self.clock())
        for unit in units:
            result.sent += len(unit)
            channel = unit[0].channel
            result.by_channel[channel] = result.by_channel.get(channel, 0) + len(unit)

    def _release_waiting(self, waiting: dict[str, deque[Unit]], result: PassResult) -> None:
        """On a stop: give back the rows not handed to a thread yet; the sends in flight
        are allowed to finish (each is bounded by its channel's timeout)."""
        released = [row.id for queue in waiting.values() for unit in queue for row in unit]
        for queue in waiting.values():
            queue.clear()
        if released:
            self.store.release(released)
            result.released += len(released)

    def _record(self, unit: Unit, outcome: Outcome, result: PassResult) -> None:
        """Write one message's outcome to every row it carried."""
        now = self.clock()
        first = unit[0]
        if outcome.ok:
            self.store.mark_sent([row.id for row in unit], now)
            result.sent += len(unit)
            result.by_channel[first.channel] = result.by_channel.get(first.channel, 0) + len(unit)
            return
        next_at = self.policy.next_try(outcome, first.attempts + 1, first.created_at, now)
        reason = redact(outcome.reason)
        for row in unit:
            self.store.mark_failed(row.id, now=now, next_at=next_at, error=reason)
        what = first.id if len(unit) == 1 else f"{first.id} and {len(unit) - 1} grouped"
        if next_at is None:
            result.dead += len(unit)
            log.error("delivery %s (%s -> %s) is dead: %s", what, first.rule, first.channel, reason)
        else:
            result.retrying += len(unit)
            log.warning(
                "delivery %s (%s -> %s) failed, retry in %.0fs: %s",
                what,
                first.rule,
                first.channel,
                next_at - now,
                reason,
            )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools.clear()


def _safe_send(channel: Channel, notification: Notification) -> Outcome:
    """A channel bug must not take the pass down: an unexpected exception is a
    retryable failure, reported by type only (its text might carry a secret)."""
    try:
        return channel.send(notification)
    except Exception as exc:  # noqa: BLE001
        log.exception("channel %s raised while sending %s", notification.channel, notification.id)
        return Outcome.retry(f"unexpected {type(exc).__name__}")
