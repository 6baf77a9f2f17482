"""Draining the outbox: every due delivery is sent through its channel, each channel on
its own thread pool so a failing or slow channel never holds up another, and every
outcome is written back as sent, retrying at a time, or dead.

The store is touched only from the calling thread; worker threads only call
`channel.send`. A send never sleeps for a retry: the next try time lives in the row.
"""

from __future__ import annotations

import logging
import random
import threading
import time
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


def to_notification(row: OutboxRow) -> Notification:
    alerts = tuple(
        Alert(
            event=a["event"],
            key=str(a["key"]),
            data=a.get("data", {}),
            reasons=tuple(Reason.from_dict(r) for r in a.get("reasons", [])),
        )
        for a in row.alerts
    )
    return Notification(
        id=row.id, rule=row.rule, channel=row.channel, alerts=alerts, attempt=row.attempts + 1
    )


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

    def run_pass(self) -> PassResult:
        """Send every delivery due now and record each outcome as it arrives."""
        result = PassResult()
        rows = self.store.claim_due(self.clock(), self.lease_seconds)
        if not rows:
            return result
        pending: dict[Future[Outcome], OutboxRow] = {}
        for row in rows:
            channel = self.channels.get(row.channel)
            if channel is None:
                self._record(
                    row, Outcome.final(f"channel {row.channel!r} is not configured"), result
                )
                continue
            pending[self._pool(row.channel).submit(_safe_send, channel, to_notification(row))] = row
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                self._record(pending.pop(future), future.result(), result)
            if self.stop.is_set():
                self._release_unstarted(pending, result)
        return result

    def _release_unstarted(
        self, pending: dict[Future[Outcome], OutboxRow], result: PassResult
    ) -> None:
        """On a stop: give back the rows no thread has started; the sends in flight
        are allowed to finish (each is bounded by its channel's timeout)."""
        released = [row.id for future, row in list(pending.items()) if future.cancel()]
        for future in [f for f in pending if f.cancelled()]:
            del pending[future]
        if released:
            self.store.release(released)
            result.released += len(released)

    def _record(self, row: OutboxRow, outcome: Outcome, result: PassResult) -> None:
        now = self.clock()
        if outcome.ok:
            self.store.mark_sent([row.id], now)
            result.sent += 1
            result.by_channel[row.channel] = result.by_channel.get(row.channel, 0) + 1
            return
        next_at = self.policy.next_try(outcome, row.attempts + 1, row.created_at, now)
        reason = redact(outcome.reason)
        self.store.mark_failed(row.id, now=now, next_at=next_at, error=reason)
        if next_at is None:
            result.dead += 1
            log.error("delivery %s (%s -> %s) is dead: %s", row.id, row.rule, row.channel, reason)
        else:
            result.retrying += 1
            log.warning(
                "delivery %s (%s -> %s) failed, retry in %.0fs: %s",
                row.id,
                row.rule,
                row.channel,
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
