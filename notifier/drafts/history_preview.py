"""A draft run over the events the state store keeps (history, contract section 11):
no Testpress request, so a preview answers in seconds even for a large institute. It
can answer only when history holds every field the draft reads; `history_gaps` says
what it lacks, and the preview then reads Testpress (`notifier.drafts.period`).

History keeps each event compactly: the base fields of its kind, the fields the
running rules compare, its title; the students' names come from their latest activity.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from notifier.drafts.period import SAMPLES, Preview, empty_preview, tally_match
from notifier.events import Activity, Event, FieldValue, Kept
from notifier.rules.evaluate import Step, evaluate_in_order
from notifier.rules.history import (
    HISTORY_KINDS,
    TITLE_FIELD,
    Change,
    HistoryBook,
    kept_fields,
)
from notifier.rules.schema import Rule, RuleSet

DAY = 86400.0
# What a kept event gives besides its kept fields: its title, and the student's name and
# email from their latest activity.
ALWAYS_THERE = frozenset({"student", "email", "user_id"})
# How far before the period a history rule's earlier events are read: all of a `repeat
# within` up to this, and this much for the rules without a window (`change`, `in_a_row`),
# so a preview of a year's store reads weeks, not the year (figure v of `make bench`).
WARM_DAYS = 30


class HistoryReader(Protocol):
    def history(self, kind: str, subjects: Iterable[str] | None, since: float) -> list[Kept]: ...

    def activities(self, since: float) -> list[Activity]: ...


def fields_read(rule: Rule) -> frozenset[str]:
    """The event fields a rule reads: its conditions, its templates, its history keys."""
    names = set(rule.fields)
    if rule.history is not None:
        names |= set(rule.history.per)
        if isinstance(rule.history, Change):
            names |= {rule.history.field, *rule.history.same}
    return frozenset(names)


def history_gaps(draft: RuleSet, running: Iterable[Rule]) -> list[str]:
    """Why history cannot answer for `draft` (empty when it can): a rule of a kind
    history does not keep, or one reading a field it does not keep. `running` are the
    rules whose fields have been kept."""
    kept = kept_fields(running)
    gaps = []
    for rule in draft.rules:
        if rule.event == "student.inactive":
            gaps.append(f"rule '{rule.name}': student.inactive is decided by the daily check")
        if rule.event not in HISTORY_KINDS:
            continue
        have = kept[rule.event] | ALWAYS_THERE | {TITLE_FIELD[rule.event]}
        missing = sorted(fields_read(rule) - have)
        if missing:
            gaps.append(
                f"rule '{rule.name}' reads {', '.join(missing)}, which history does not keep"
            )
    return gaps


def preview_history(
    draft: RuleSet,
    store: HistoryReader,
    *,
    days: float,
    now: datetime,
    samples: int = SAMPLES,
) -> Preview:
    """Evaluate the draft over the kept events of the last `days` days, in time order,
    each against the kept events before it (those of the draft's longest window before
    the period too, up to WARM_DAYS, so `repeat` and `change` see what they would have
    seen)."""
    since = now - timedelta(days=days)
    result = empty_preview(draft, days, since)
    start = since.timestamp()
    windows = [r.history.window for r in draft.rules if r.history is not None]
    warm = start - min(max(windows, default=0.0), WARM_DAYS * DAY)
    names = {a.user_id: a for a in store.activities(start)}
    steps: list[Step] = []
    for kind in sorted({r.event for r in draft.rules} & set(HISTORY_KINDS)):
        for kept in store.history(kind, None, warm):
            event = _event(kept, names) if kept.at >= start else None
            steps.append(Step(kept, event, kept.at))
    steps.sort(key=lambda s: s.at)
    result.events["history"] = sum(1 for s in steps if s.event is not None)
    matches, _ = evaluate_in_order(draft.rules, steps, HistoryBook())
    at = {id(s.event): s.at for s in steps if s.event is not None}
    for match in matches:
        tally_match(result, match, samples, at.get(id(match.event), start))
    return result


def warm_note(draft: RuleSet) -> str | None:
    """What a preview says when a rule's window reaches further back than it reads."""
    names = [r.name for r in draft.rules if r.history and r.history.window > WARM_DAYS * DAY]
    if not names:
        return None
    return (
        f"{', '.join(names)}: earlier events are read from {WARM_DAYS} days before the "
        "period, not further (running, the notifier reads all it keeps)"
    )


def _event(kept: Kept, names: dict[str, Activity]) -> Event:
    data: dict[str, FieldValue] = dict(kept.fields)
    if kept.title is not None:
        data[TITLE_FIELD[kept.kind]] = kept.title
    who = names.get(str(data.get("user_id"))) if data.get("user_id") is not None else None
    if who is not None:
        data.setdefault("student", who.student)
        data.setdefault("email", who.email)
    return Event(kept.kind, kept.key, data)


__all__ = ["WARM_DAYS", "fields_read", "history_gaps", "preview_history", "warm_note"]
