"""How long the Testpress client waits between tries, and the pause every thread honours.

After a 429 every thread of the client waits, not just the one that was told to: the
server's `Retry-After` is about this client, not about one request.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

BACKOFF_BASE = 0.5  # seconds before the first retry (at most; full jitter)


def backoff_delay(attempt: int, retry_after: float | None, max_wait: float) -> float:
    """Full jitter over an exponential ceiling, but never less than Retry-After."""
    ceiling = min(max_wait, BACKOFF_BASE * 2 ** (attempt - 1))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, max_wait)


class SharedPause:
    """A pause one request is told to make (a 429's Retry-After), shared by every call."""

    def __init__(self, sleep: Callable[[float], object]):
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until = 0.0  # time.monotonic()

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait_out(self, slept_until: float) -> None:
        """Wait until a pause another call was told to make is over (what this call
        already waited for itself counts)."""
        if self._until <= slept_until:  # no pause beyond this call's own (a float read
            return  # is atomic): every request asks, and nearly always there is none
        with self._lock:
            remaining = self._until - max(time.monotonic(), slept_until)
        if remaining > 0:
            self._sleep(remaining)
