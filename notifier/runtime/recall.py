"""History for the run loop (contract section 11): the earlier events a cycle's (or a
push batch's) history rules compare with, read from the state store, then the pure
evaluation in time order (`notifier.rules.evaluate.evaluate_in_order`, which `notifier
test` and `notifier preview` use too). What is new is kept by `record`, with the seen
marks, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from notifier.events import Kept
from notifier.rules.evaluate import Match, evaluate_in_order, steps_of, time_of
from notifier.rules.history import (
    HISTORY_KINDS,
    HistoryBook,
    keep_seconds,
    kept_fields,
    to_kept,
    whole_kind,
)
from notifier.rules.schema import Rule
from notifier.sources.base import PollResult
from notifier.state import History, SeenMarks
from notifier.state.sqlite_history import INACTIVITY_SEEN


class RecallStore(Protocol):
    """What evaluating against history reads: the history, and the seen marks that
    keep a spell's alert to once."""

    seen: SeenMarks
    history: History


def evaluate_with_history(
    store: RecallStore, rules: Sequence[Rule], polled: PollResult, now: float
) -> tuple[list[Match], list[Kept]]:
    """Evaluate the new events in time order, each against the history before it: the
    store's, read only for the students of these events (and only for kinds some history
    rule watches), then these events' own. Returns the matches and the history records
    to keep."""
    fields = kept_fields(rules)
    history = list(polled.history)
    known = {k.key for k in history}
    for e in polled.events:  # a source that keeps no history of its own (push)
        if e.key not in known and e.kind in fields:
            made = to_kept(e, time_of(e, now), fields[e.kind])
            if made is not None:
                history.append(made)
    events = {e.key for e in polled.events}
    book = HistoryBook()
    since = now - keep_seconds(rules)
    for kind in HISTORY_KINDS:
        if not any(r.event == kind and r.history is not None for r in rules):
            continue
        subjects = {k.subject for k in history if k.kind == kind and k.key in events}
        wanted = sorted(s for s in subjects if s is not None)
        if not wanted:
            continue
        for past in store.history.history(kind, None if whole_kind(rules, kind) else wanted, since):
            book.add(past)
    return evaluate_in_order(rules, steps_of(polled.events, history, now), book)


def once_per_spell(store: RecallStore, matches: list[Match]) -> tuple[list[Match], list[str]]:
    """Inactivity events come daily; each (rule, quiet spell) alerts once. Returns the
    matches not alerted yet and the seen marks (`<rule>|<key>`) to record with them."""
    marks = {f"{m.rule.name}|{m.event.key}": m for m in matches}
    fresh = store.seen.unseen(INACTIVITY_SEEN, marks)
    return [m for mark, m in marks.items() if mark in fresh], sorted(fresh)
