"""The rules file's typed models, and its key tables in one place.

To add a key (a rule's `title` or `throttle`, a channel's `quiet_hours`), add it to the
table below, give the model a field, and read it in `load.py`; the unknown-key check
and its "did you mean" suggestions follow from the table.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel

from notifier.events import JSONValue, Stage
from notifier.rules.conditions import AllOf, FieldOps
from notifier.rules.history import HistorySpec
from notifier.rules.policy import Policy, QuietHours
from notifier.rules.templates import RuleTemplates

# Top level: key -> required?
TOP_LEVEL_KEYS: dict[str, bool] = {"channels": True, "rules": True, "sources": False}
# A rule: key -> required?
RULE_KEYS: dict[str, bool] = {
    "name": True,
    "event": True,
    "when": False,
    "notify": True,
    "enabled": False,  # `enabled: false`: loaded and checked, never fires
    "title": False,
    "message": False,
    # delivery policy (notifier.rules.policy, read by notifier.rules.policies)
    "group_by": False,
    "group_wait": False,
    "group_interval": False,
    "digest": False,
    "quiet_hours": False,
    "throttle": False,
    "urgent": False,
    # history (notifier.rules.history, read by notifier.rules.history_keys)
    "repeat": False,
    "change": False,
}
# `sources:`: key -> required?
SOURCES_KEYS: dict[str, bool] = {"conferences": False}
# A channel's keys come from its config model (notifier.channels.CHANNEL_TYPES); keys
# every channel takes whatever its type go here.
CHANNEL_COMMON_KEYS: frozenset[str] = frozenset({"type", "quiet_hours"})

RULE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class ChannelDef:
    """A named destination: its `type` (a CHANNEL_TYPES key) and its validated config."""

    name: str
    type: str
    config: BaseModel
    quiet_hours: QuietHours | None = None


@dataclass(frozen=True, eq=False)
class Rule:
    """One rule. `when` is the compiled condition (an AllOf of the top-level parts);
    `fields` are the top-level event fields it reads (its conditions and its templates)
    and `stages` the stages of those fields ("list" always), so sources fetch detail
    only for rules that need it. `templates` is None when the rule uses the default
    wording."""

    name: str
    event: str
    notify: tuple[str, ...]
    when: AllOf
    fields: frozenset[str]
    stages: frozenset[Stage]
    templates: RuleTemplates | None = None
    policy: Policy = field(default_factory=Policy)
    history: HistorySpec | None = None  # `repeat` or `change`
    enabled: bool = True  # False: loaded and checked, never in RuleSet.rules

    def pinned(self, name: str) -> JSONValue:
        """The one value this rule requires top-level field `name` to equal (`exam_id:
        133` or `exam_id: {in: [133]}`), else None. Sources push it into the query."""
        for part in self.when.parts:
            if isinstance(part, FieldOps) and part.field == name:
                value = part.pinned()
                if value is not None:
                    return value
        return None


@dataclass(frozen=True)
class Sources:
    """Extra things to watch that events alone do not reveal."""

    conferences: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class RuleSet:
    path: str
    channels: dict[str, ChannelDef]
    rules: list[Rule]  # the enabled rules: the only ones that fire
    sources: Sources = field(default_factory=Sources)
    disabled: tuple[str, ...] = ()  # names of the rules with `enabled: false`

    def rules_for(self, kind: str) -> list[Rule]:
        return [rule for rule in self.rules if rule.event == kind]

    def kinds_used(self) -> set[str]:
        return {rule.event for rule in self.rules}

    def summary(self) -> str:
        """One line for `notifier check`, e.g. "rules.yaml: OK, 3 rules
        (attempt.completed: 2, conference.attendance: 1), 4 channels"."""
        counts = Counter(rule.event for rule in self.rules)
        rules = _plural(len(self.rules), "rule")
        if counts:
            rules += " (" + ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) + ")"
        line = f"{self.path}: OK, {rules}, {_plural(len(self.channels), 'channel')}"
        if self.disabled:
            line += f"; {len(self.disabled)} disabled (never fire): {', '.join(self.disabled)}"
        return line


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


__all__ = [
    "CHANNEL_COMMON_KEYS",
    "RULE_KEYS",
    "SOURCES_KEYS",
    "TOP_LEVEL_KEYS",
    "ChannelDef",
    "Rule",
    "RuleSet",
    "Sources",
]
