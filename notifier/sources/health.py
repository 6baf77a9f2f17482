"""The notifier's own trouble as `notifier.health` events (contract section 9).

Three problems, each with a subject:

- `source_failing` (a source's name): its polls failed, wholly or in part, for
  `FAILING_CYCLES` cycles in a row and for at least `NOTIFIER_HEALTH_AFTER_SECONDS`
  since the first of them. A single flaky cycle is normal and says nothing.
- `rules_invalid` (the rules file): a changed rules file could not be loaded, so the
  last good rules still run.
- `deliveries_dead` (a channel): the channel has dead deliveries (retries gave up, or
  a final error).

Each problem gives one event when it starts (`resolved: false`, key
`<problem>:<subject>:<since>`) and one when it ends (`resolved: true`, the same key
plus `:resolved`), whatever happens in between. The monitor is pure bookkeeping: the
run loop tells it what it observed and routes the events it returns through the
normal rules, outbox and channels. Its state is a JSON-able dict the loop keeps in
the state store, so a restart neither repeats a start nor forgets to resolve.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypedDict

from notifier.events import Event, FieldValue, Kept
from notifier.state import NewDelivery, Outbox, SeenMarks, SourceState

log = logging.getLogger(__name__)

KIND = "notifier.health"
SCOPE = "health"  # the monitor's state and seen marks in the store
FAILING_CYCLES = 3
SOURCE_FAILING = "source_failing"
RULES_INVALID = "rules_invalid"
DELIVERIES_DEAD = "deliveries_dead"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DeadSummary:
    """A channel's dead deliveries, as the state store counts them."""

    count: int
    last_error: str | None = None


class Opened(TypedDict):
    """A problem that started: when, and what was said."""

    since: str  # ISO time
    detail: str


class FailedRun(TypedDict, total=False):
    """A run of failed polls of one source."""

    failures: int
    first: float  # Unix seconds
    detail: str


class MonitorState(TypedDict, total=False):
    """What the monitor keeps in the state store across restarts."""

    open: dict[str, Opened]
    failures: dict[str, FailedRun]


class HealthMonitor:
    def __init__(self, after_seconds: float, state: MonitorState | None = None):
        self.after_seconds = after_seconds
        state = state or MonitorState()
        # "problem\0subject" -> {"since": iso, "detail": str}: problems that started.
        self.open: dict[str, Opened] = dict(state.get("open", {}))
        # source -> {"failures": n, "first": ts, "detail": str}: a run of failed polls.
        self.failures: dict[str, FailedRun] = dict(state.get("failures", {}))
        self.changed = False

    def state(self) -> MonitorState:
        """What to keep in the state store (after `changed`)."""
        return {"open": self.open, "failures": self.failures}

    # -- observations -------------------------------------------------------------------

    def source_polled(self, source: str, ok: bool, error: str | None, now: float) -> list[Event]:
        if ok:
            had_run = self.failures.pop(source, None) is not None
            self.changed |= had_run
            return self._resolve(SOURCE_FAILING, source, f"{source} was read again")
        run = self.failures.setdefault(source, {"failures": 0, "first": now})
        run["failures"] += 1
        run["detail"] = error or "the poll failed"
        self.changed = True
        if run["failures"] < FAILING_CYCLES or now - run["first"] < self.after_seconds:
            return []
        detail = f"{run['failures']} polls in a row failed; the latest: {run['detail']}"
        return self._start(SOURCE_FAILING, source, run["first"], detail)

    def rules_loaded(self, path: str, error: str | None, now: float) -> list[Event]:
        """A reload of the rules file at `path` succeeded (error None) or failed."""
        if error is None:
            return self._resolve(RULES_INVALID, path, "the rules file loaded again")
        first_line = error.splitlines()[0] if error.strip() else "invalid"
        more = len(error.splitlines()) - 1
        detail = first_line + (f" (and {more} more problems)" if more > 0 else "")
        return self._start(RULES_INVALID, path, now, detail)

    def deliveries_checked(self, dead: Mapping[str, DeadSummary], now: float) -> list[Event]:
        """Every channel's dead deliveries now (a channel with none may be left out)."""
        events = []
        for channel, summary in sorted(dead.items()):
            if summary.count > 0:
                detail = f"{summary.count} dead deliveries"
                if summary.last_error:
                    detail += f"; the latest error: {summary.last_error}"
                events += self._start(DELIVERIES_DEAD, channel, now, detail)
        for key in sorted(self.open):
            problem, _, channel = key.partition("\0")
            if problem == DELIVERIES_DEAD and dead.get(channel, DeadSummary(0)).count == 0:
                events += self._resolve(DELIVERIES_DEAD, channel, "no dead deliveries are left")
        return events

    # -- starts and ends ------------------------------------------------------------------

    def _start(self, problem: str, subject: str, since: float, detail: str) -> list[Event]:
        key = f"{problem}\0{subject}"
        if key in self.open:
            return []
        self.open[key] = {"since": _iso(since), "detail": detail}
        self.changed = True
        return [health_event(problem, subject, detail, _iso(since), resolved=False)]

    def _resolve(self, problem: str, subject: str, detail: str) -> list[Event]:
        opened = self.open.pop(f"{problem}\0{subject}", None)
        if opened is None:
            return []
        self.changed = True
        return [health_event(problem, subject, detail, opened["since"], resolved=True)]


def health_event(problem: str, subject: str, detail: str, since: str, *, resolved: bool) -> Event:
    key = f"{problem}:{subject}:{since}" + (":resolved" if resolved else "")
    data: dict[str, FieldValue] = {
        "problem": problem,
        "subject": subject,
        "detail": detail,
        "since": since,
        "resolved": resolved,
    }
    return Event(KIND, key, data)


class HealthStore(Protocol):
    """What the monitor uses: its state, the dead deliveries it reports, and `record`
    to queue its events with that state."""

    seen: SeenMarks
    sources: SourceState
    outbox: Outbox


class HealthWatch:
    """The monitor as the run loop uses it: kept in the store across restarts, its
    events queued with its state in ONE transaction (a crash neither loses a start
    nor sends one twice)."""

    def __init__(self, store: HealthStore, after_seconds: float):
        self.store = store
        self.monitor = HealthMonitor(after_seconds, store.sources.get_state(SCOPE, "monitor"))
        self.pending: list[Event] = []

    def source_polled(self, source: str, ok: bool, error: str | None, now: float) -> None:
        self.pending += self.monitor.source_polled(source, ok, error, now)

    def rules_loaded(self, path: str, error: str | None, now: float) -> None:
        self.pending += self.monitor.rules_loaded(path, error, now)

    def check_deliveries(self, now: float) -> None:
        dead = {
            ch: DeadSummary(n, err) for ch, (n, err) in self.store.outbox.dead_by_channel().items()
        }
        self.pending += self.monitor.deliveries_checked(dead, now)

    def flush(
        self, plan: Callable[[list[Event]], tuple[list[NewDelivery], list[Kept]]], now: float
    ) -> list[Event]:
        """Queue the pending events' deliveries (`plan` evaluates them against the
        rules, giving deliveries and history to keep) and save the monitor, in one
        transaction. Returns the events."""
        events, self.pending = self.pending, []
        if not events and not self.monitor.changed:
            return []
        for event in events:
            d = event.data
            if d["resolved"]:
                log.info("resolved: %s %s (%s)", d["problem"], d["subject"], d["detail"])
            else:
                log.warning("notifier trouble: %s %s: %s", d["problem"], d["subject"], d["detail"])
        deliveries, kept = plan(events)
        self.store.seen.record(
            SCOPE,
            [e.key for e in events],
            deliveries,
            state={"monitor": self.monitor.state()},
            now=now,
            history=kept,
        )
        self.monitor.changed = False
        return events
