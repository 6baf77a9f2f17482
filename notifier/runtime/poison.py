"""A polled record that fails in processing never holds back its cycle (contract
section 7, "No poison").

A poll's part (the whole poll for most sources; a chunk of a backlog for the exam
attempts, notifier.sources.attempts) is evaluated, planned and recorded together (one
transaction, with the source's cursor on the last part). When that raises, its events
are committed again one at a time, so only the record that raises on its own fails:
it is left unseen, counts a try in the store (`record_faults`), and is skipped until
its backoff ends (notifier.state.base.fault_retry_at); the poll reads it again then.
After FAULT_TRIES it is set aside as dead: marked seen without alerting, with its error kept for
`notifier status` and `notifier_poisoned_rows{table="records"}`. The rest of the
batch, its seen marks and cursor are recorded as they would have been.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from notifier.obs.logs import redact
from notifier.sources.base import PollResult
from notifier.state import Faults, SeenMarks, is_outage
from notifier.testpress.safetext import clean

log = logging.getLogger(__name__)

Commit = Callable[[PollResult], int]  # evaluate, plan and record a poll's part: queued


class PoisonStore(Protocol):
    """What isolating failing records uses: their faults, and the seen marks that set
    a dead one aside."""

    seen: SeenMarks
    faults: Faults


def commit_isolated(
    store: PoisonStore, source: str, polled: PollResult, commit: Commit, now: float
) -> int:
    """`commit(polled)`, isolating the events that fail in it. Returns the deliveries
    queued. Raises only when what is left without any event fails too (a store outage,
    not poison: the cycle fails and is tried again as before)."""
    keys = {event.key for event in polled.events}
    faults = store.faults.record_faults(source, keys) if keys else {}
    waiting = {k for k, f in faults.items() if f.status != "dead" and f.next_at > now}
    dead = {k for k, f in faults.items() if f.status == "dead"}
    polled = _without(polled, waiting | dead, keep_seen=dead)
    try:
        queued = commit(polled)
    except Exception as exc:  # noqa: BLE001 - poison is isolated, never fatal
        if not polled.events or is_outage(exc):
            raise  # the store, not a record: the cycle fails and is tried again
        if len(polled.events) > 1:
            log.warning(
                "%s: recording %d events failed (%s); recording them one by one",
                source,
                len(polled.events),
                type(exc).__name__,
            )
        queued = _one_by_one(store, source, polled, commit, now, exc)
    else:
        done = [k for k in faults if k in keys and k not in waiting and k not in dead]
        if done:
            store.faults.record_faults_clear(source, done)
    return queued


def _one_by_one(
    store: PoisonStore, source: str, polled: PollResult, commit: Commit, now: float, exc: Exception
) -> int:
    """Each event in its own commit (a lone event has just failed: `exc`), then the
    rest of the poll (its other seen marks, its cursor) in one."""
    queued = 0
    failed: set[str] = set()
    for event in polled.events:
        part = PollResult(
            events=[event],
            seen=[event.key] if event.key in polled.seen else [],
            history=[h for h in polled.history if h.key == event.key],
            last=False,  # the cursor and the baseline mark go with the rest
        )
        try:
            if len(polled.events) == 1:
                raise exc
            queued += commit(part)
        except Exception as error:  # noqa: BLE001
            if is_outage(error):
                raise
            failed.add(event.key)
            _fault(store, source, event.key, error, now)
    event_keys = {event.key for event in polled.events}
    rest = replace(
        polled,
        events=[],
        seen=[k for k in polled.seen if k not in event_keys],
        history=[h for h in polled.history if h.key not in event_keys],
    )
    queued += commit(rest)  # the cursor and every other seen mark
    done = event_keys - failed
    if done:
        store.faults.record_faults_clear(source, done)
    return queued


def _fault(store: PoisonStore, source: str, key: str, exc: Exception, now: float) -> None:
    message = clean(redact(f"{type(exc).__name__}: {exc}"))[:500]
    fault = store.faults.record_fault(source, key, now=now, error=message)
    if fault.status == "dead":
        log.error(
            "%s record %s set aside as dead after %d failed tries: %s",
            source,
            key,
            fault.tries,
            message,
            extra={"source": source},
        )
        store.seen.record(source, [key], [], now=now)  # never read again, never alerted
        return
    log.warning(
        "%s record %s failed in processing (try %d), retry in %.0f s: %s",
        source,
        key,
        fault.tries,
        fault.next_at - now,
        message,
        extra={"source": source},
        exc_info=exc if fault.tries == 1 else None,
    )


def _without(polled: PollResult, skipped: set[str], *, keep_seen: set[str]) -> PollResult:
    """`polled` without the events of `skipped` (nor their history); their seen marks
    only for those in `keep_seen` (dead: set aside for good)."""
    if not skipped:
        return polled
    return replace(
        polled,
        events=[e for e in polled.events if e.key not in skipped],
        seen=[k for k in polled.seen if k not in skipped or k in keep_seen],
        history=[h for h in polled.history if h.key not in skipped],
    )


# -- what `notifier status` shows ---------------------------------------------------------


def status_of(faults: Faults) -> dict[str, object]:
    """The `poisoned` object of `status --json`: per table how many rows were set aside
    (`counts`), and the latest of them with their errors (`rows`)."""
    return {"counts": faults.poisoned_counts(), "rows": faults.poisoned()}


def status_lines(poisoned: dict[str, object]) -> list[str]:
    """The same, as lines of `notifier status`."""
    counts = poisoned["counts"]
    assert isinstance(counts, dict)
    total = sum(counts.values())
    head = ", ".join(f"{n} {table}" for table, n in counts.items())
    lines = [f"poisoned (set aside after failing in processing): {head}"]
    rows = poisoned["rows"] if total else []
    assert isinstance(rows, list)
    for row in rows:
        lines.append(
            f"  {row['table']} {row['id']}: {row['tries']} tries, last at {row['at']}: "
            f"{row['error']}"
        )
    return lines
