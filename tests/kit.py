"""Small shared pieces for the guarantee tests (issue 4)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from notifier.channels.base import Notification, Outcome


class RecordingChannel:
    """A channel that records what it was asked to send and answers with `outcome`
    (a function of the notification, called after the send is recorded; a slow send is
    an `outcome` that waits for something, not a sleep)."""

    def __init__(self, name: str, outcome: Callable[[Notification], Outcome] | None = None):
        self.name = name
        self.outcome = outcome or (lambda n: Outcome.sent())
        self._lock = threading.Lock()
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> Outcome:
        with self._lock:
            self.sent.append(notification)
        return self.outcome(notification)

    def close(self) -> None:
        pass
