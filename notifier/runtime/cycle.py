"""What one cycle did, in numbers: returned by `App.cycle`, logged as its summary line
(text, and the same numbers as fields of a JSON log line); and `PollerGate`, which
replica of several may poll."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from notifier.delivery.deliverer import PassResult


@dataclass
class CycleResult:
    sources_ok: bool = True
    queued: int = 0
    events: int = 0
    matches: int = 0
    sources: int = 0
    failed: list[str] = field(default_factory=list)  # sources not read, wholly or in part
    health: int = 0  # notifier.health events raised
    delivery: PassResult = field(default_factory=PassResult)

    @property
    def idle(self) -> bool:
        """Nothing happened: no events, matches, sends or failures (logged at DEBUG)."""
        d = self.delivery
        return not (self.events or self.matches or self.queued or self.failed or self.health) and (
            not (d.sent or d.retrying or d.dead)
        )

    def summary(self, seconds: float) -> str:
        d = self.delivery
        failed = f" ({', '.join(self.failed)} failed)" if self.failed else ""
        return (
            f"cycle finished in {seconds:.2f} s: {self.sources} sources polled{failed}; "
            f"{self.events} new events, {self.matches} matches, {self.queued} deliveries "
            f"queued; {d.sent} sent, {d.retrying} retrying, {d.dead} dead"
            + (f", {d.muted} muted" if d.muted else "")
            + (f"; {self.health} health events" if self.health else "")
        )

    def fields(self, seconds: float) -> dict[str, object]:
        """The summary's numbers, as extra fields of the JSON log line."""
        d = self.delivery
        return {
            "duration_seconds": round(seconds, 3),
            "sources": self.sources,
            "failed_sources": self.failed,
            "events": self.events,
            "matches": self.matches,
            "queued": self.queued,
            "sent": d.sent,
            "retrying": d.retrying,
            "dead": d.dead,
            "muted": d.muted,
            "health_events": self.health,
        }


class PollerGate(Protocol):
    """Who may poll when several replicas share a store (notifier.state.postgres_replicas
    .Heartbeat): the run loop polls only while `is_poller()`, and wakes at once when
    `became_poller` is set. Without one (SQLite, one copy) the loop always polls."""

    became_poller: threading.Event

    def is_poller(self) -> bool: ...


def took_over(gate: PollerGate | None) -> bool:
    """This replica just took the poller lease (once per takeover): poll now, not at
    the next interval."""
    if gate is None or not gate.became_poller.is_set():
        return False
    gate.became_poller.clear()
    return True
