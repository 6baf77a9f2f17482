"""The log of refused webhooks, rate-limited (contract section 10).

Anyone who can reach the port can send refusals as fast as they like; a line for each
would flood the log (and whatever ships it). So within a minute the first few are
logged as they come (client and reason, never the payload, the key or the hash), and
the rest only counted; when the minute is over, one summary line says how many more
there were and why. Every refusal is still counted on `/metrics` by the handler.

The clock and the scheduling of the end-of-minute summary are injectable, so the
limit is tested without waiting for a minute to pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

LINES_PER_WINDOW = 5
WINDOW_SECONDS = 60.0

Schedule = Callable[[float, Callable[[], None]], None]


def _timer(delay: float, action: Callable[[], None]) -> None:
    timer = threading.Timer(delay, action)
    timer.daemon = True
    timer.start()


class RefusalLog:
    """`refused(path, client, reason)` for each refused request; thread-safe."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        lines: int = LINES_PER_WINDOW,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        schedule: Schedule = _timer,
    ):
        self._log = logger
        self._lines = lines
        self._window = window
        self._clock = clock
        self._schedule = schedule
        self._lock = threading.Lock()
        self._started: float | None = None  # the current window's start
        self._logged = 0
        self._held: Counter[str] = Counter()  # reason -> refusals not logged this window

    def refused(self, path: str, client: str, reason: str) -> None:
        with self._lock:
            now = self._clock()
            if self._started is not None and now >= self._started + self._window:
                self._close_window()
            if self._started is None:
                self._started, self._logged = now, 0
            if self._logged < self._lines:
                self._logged += 1
                self._log.warning("refused a webhook on %s from %s: %s", path, client, reason)
                return
            if not self._held:  # the first one held back: the summary is due at the end
                # A hair late rather than early: `flush` checks the window is over.
                self._schedule(self._started + self._window - now + 0.01, self.flush)
            self._held[reason] += 1

    def flush(self) -> None:
        """Log the summary of the window when it is over (called at its end)."""
        with self._lock:
            if self._started is not None and self._clock() >= self._started + self._window:
                self._close_window()

    def _close_window(self) -> None:
        if self._held:
            reasons = ", ".join(f"{reason} ({n})" for reason, n in self._held.most_common())
            self._log.warning(
                "%d more webhooks refused in the last minute: %s",
                sum(self._held.values()),
                reasons,
            )
        self._started, self._logged = None, 0
        self._held.clear()
