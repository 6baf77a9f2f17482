"""Pure evaluation: which rules an event matches, and why. No I/O, no clock.

What each match's reasons hold is described in `notifier.rules.conditions`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from notifier.events import EVENT_KINDS, Event, EventData, Kept, Reason, Stage
from notifier.rules.history import (
    HISTORY_KINDS,
    HistoryBook,
    Repeat,
    check_history,
    event_time,
    fired_on,
    to_kept,
    whole_kind,
)
from notifier.rules.schema import Rule


@dataclass(frozen=True)
class Match:
    """A rule that fired for an event, with the leaf conditions that made it fire."""

    rule: Rule
    event: Event
    reasons: tuple[Reason, ...]
    history: tuple[Kept, ...] = ()  # history rules: the earlier events, newest first


def match_rule(
    rule: Rule, event: Event, past: Sequence[Kept] | None = None, at: float | None = None
) -> Match | None:
    """The match when `event` is of the rule's kind and its `when` holds, else None.
    A history rule (`repeat`, `change`) also needs its condition on `past`, the earlier
    events of this kind (oldest first); without `past` it matches on `when` alone,
    which is what a source asks when deciding which events are worth enriching."""
    if rule.event != event.kind:
        return None
    reasons = rule.when.check(event.data)
    if reasons is None:
        return None
    if rule.history is None or past is None:
        return Match(rule, event, reasons)
    hit = check_history(rule, event, 0.0 if at is None else at, past)
    if hit is None:
        return None
    return Match(rule, event, (*reasons, hit.reason), hit.earlier)


def evaluate(
    rules: Iterable[Rule],
    event: Event,
    past: Sequence[Kept] = (),
    at: float | None = None,
) -> list[Match]:
    """Every rule `event` matches, in the rules' order; rules of other kinds are ignored.
    `past` is the history history rules compare with (see match_rule)."""
    return [m for m in (match_rule(rule, event, past, at) for rule in rules) if m is not None]


@dataclass(frozen=True)
class Step:
    """One event in time order: its history record (None for kinds without history)
    and, when it is to be evaluated, the event itself (None: only kept, as in a
    baseline or for an event no rule's `when` wants)."""

    kept: Kept | None
    event: Event | None
    at: float


def steps_of(events: Iterable[Event], kept: Iterable[Kept], now: float) -> list[Step]:
    """A poll's new events and history records as steps in time order: every record
    kept, the events among them evaluated; events of kinds without history after."""
    by_key = {e.key: e for e in events}
    kept = list(kept)
    steps = sorted((Step(k, by_key.get(k.key), k.at) for k in kept), key=lambda s: s.at)
    keys = {k.key for k in kept}
    return steps + [Step(None, e, now) for e in by_key.values() if e.key not in keys]


def step(event: Event, at: float, fields: Mapping[str, frozenset[str]]) -> Step:
    return Step(to_kept(event, at, fields.get(event.kind, frozenset())), event, at)


def evaluate_in_order(
    rules: Sequence[Rule], steps: Iterable[Step], book: HistoryBook
) -> tuple[list[Match], list[Kept]]:
    """Evaluate events in the order given, each against the history before it, keeping
    each in `book` as it goes. Returns the matches and the new history records (the
    `repeat` rules that fired marked on them). Shared by `run`, `notifier test` and
    `notifier preview`."""
    matches: list[Match] = []
    kept_new: list[Kept] = []
    wide = {kind: whole_kind(rules, kind) for kind in HISTORY_KINDS}
    for s in steps:
        kept = s.kept
        if s.event is not None:
            past = book.past(kept.kind, kept.subject, wide[kept.kind]) if kept else None
            if kept is not None and past and book.has(kept):  # an event is not its own past
                past = [k for k in past if k.key != kept.key]
            got = evaluate(rules, s.event, past if past is not None else (), s.at)
            matches += got
            if kept is not None:
                repeats = [m.rule.name for m in got if isinstance(m.rule.history, Repeat)]
                kept = fired_on(kept, repeats)
        if kept is not None:
            book.add(kept)
            kept_new.append(kept)
    return matches, kept_new


def time_of(event: Event, fallback: float) -> float:
    """When an event happened: its own time field, else `fallback`."""
    at = event_time(event.kind, event.data)
    return fallback if at is None else at


def prefilter(rule: Rule, data: EventData, available: Collection[Stage]) -> bool:
    """Whether the rule may still match once costlier stages are fetched: False only
    when a top-level condition whose fields all come from `available` stages fails.

    A source calls this before fetching detail, so an attempt that already fails
    `result: Fail` is never fetched for a rule that also tests `percentile`.
    """
    catalogue = EVENT_KINDS.get(rule.event, {})
    for part in rule.when.parts:
        in_hand = all(f in catalogue and catalogue[f].stage in available for f in part.fields)
        if in_hand and part.check(data) is None:
            return False
    return True
