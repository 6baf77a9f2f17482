"""Waiting in tests without timing them (issue 17, part 8).

A test never sleeps a guessed time and then asserts: it waits for the condition it
needs (`wait_until`), or it moves an injected clock (`ManualClock`) instead of letting
real time pass. `wait_until`'s timeout is generous on purpose: it costs nothing when the
condition comes early, and a loaded machine (two suites at once on two cores) must not
turn a slow moment into a failure. When it does run out, the failure says what was
waited for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

#: Seconds: long enough for any machine, short enough that a real hang fails the test.
TIMEOUT = 60.0


def poll(predicate: Callable[[], T], *, timeout: float = TIMEOUT, interval: float = 0.02) -> T:
    """Call `predicate` until it returns something truthy or `timeout` seconds pass, and
    return its last value. For a thread, where failing the test is the main thread's
    job; everywhere else use `wait_until`, which says what it waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = TIMEOUT,
    interval: float = 0.02,
    message: str = "the condition",
    detail: Callable[[], str] | None = None,
) -> T:
    """Call `predicate` until it returns something truthy and return that value.

    Fails the test after `timeout` seconds with "timed out after N s waiting for
    <message>", followed by `detail()` (a process's log, say) when given."""
    value = poll(predicate, timeout=timeout, interval=interval)
    if not value:
        extra = f"\n{detail()}" if detail is not None else ""
        pytest.fail(f"timed out after {timeout:g} s waiting for {message}{extra}")
    return value


def wait_logged(predicate: Callable[[], T], limit: float, what: str, logs: Callable[[], str]) -> T:
    """`wait_until` for a test of running processes: at least `limit` seconds (never less
    than TIMEOUT), checked every 50 ms, and the tail of `logs()` in the failure."""
    return wait_until(
        predicate,
        timeout=max(limit, TIMEOUT),
        interval=0.05,
        message=what,
        detail=lambda: logs()[-4000:],
    )


class ManualClock:
    """A clock only the test moves, for code that takes `clock=` (and `sleep=`).

    `sleep(seconds)` does not pass real time: it blocks until the test has advanced the
    clock to its end, so the test decides what happens while the code waits and can see
    (`sleeping`, `slept`) that it is waiting and for how long."""

    def __init__(self, start: float = 1_000_000.0):
        self._now = start
        self._changed = threading.Condition()
        self.slept: list[float] = []  # every sleep asked for, in order
        self.sleeping = 0  # sleeps blocked right now

    def __call__(self) -> float:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def sleep(self, seconds: float) -> None:
        with self._changed:
            self.slept.append(seconds)
            end = self._now + seconds
            self.sleeping += 1
            try:
                if not self._changed.wait_for(lambda: self._now >= end, timeout=TIMEOUT):
                    raise TimeoutError(f"nobody advanced the clock past a {seconds} s sleep")
            finally:
                self.sleeping -= 1
