"""Pure evaluation: which rules an event matches, and why. No I/O, no clock.

What each match's reasons hold is described in `notifier.rules.conditions`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from notifier.events import EVENT_KINDS, Event, Reason, Stage
from notifier.rules.schema import Rule


@dataclass(frozen=True)
class Match:
    """A rule that fired for an event, with the leaf conditions that made it fire."""

    rule: Rule
    event: Event
    reasons: tuple[Reason, ...]


def match_rule(rule: Rule, event: Event) -> Match | None:
    """The match when `event` is of the rule's kind and its `when` holds, else None."""
    if rule.event != event.kind:
        return None
    reasons = rule.when.check(event.data)
    return None if reasons is None else Match(rule, event, reasons)


def evaluate(rules: Iterable[Rule], event: Event) -> list[Match]:
    """Every rule `event` matches, in the rules' order; rules of other kinds are ignored."""
    return [m for m in (match_rule(rule, event) for rule in rules) if m is not None]


def prefilter(rule: Rule, data: Mapping[str, Any], available: Collection[Stage]) -> bool:
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
