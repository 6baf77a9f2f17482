"""Small shared pieces for the guarantee tests (issue 4)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from notifier.channels.base import Notification, Outcome


class RecordingChannel:
    """A channel that records what it was asked to send and answers with `outcome`
    (a function of the notification), optionally after `delay` seconds."""

    def __init__(
        self,
        name: str,
        outcome: Callable[[Notification], Outcome] | None = None,
        delay: float = 0.0,
    ):
        self.name = name
        self.outcome = outcome or (lambda n: Outcome.sent())
        self.delay = delay
        self._lock = threading.Lock()
        self.sent: list[Notification] = []
        self.finished_at: list[float] = []

    def send(self, notification: Notification) -> Outcome:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.sent.append(notification)
            self.finished_at.append(time.monotonic())
        return self.outcome(notification)

    def close(self) -> None:
        pass
