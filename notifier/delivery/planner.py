"""Planning one delivery per (match, channel): its group and send time under the rule's
policy and the channel's quiet hours (notifier.rules.policy), and the alert record
the outbox row carries."""

from __future__ import annotations

from notifier.events import JSONValue
from notifier.rules.evaluate import Match
from notifier.rules.history import earlier_dicts
from notifier.rules.policy import Policy, plan
from notifier.rules.schema import RuleSet
from notifier.state import NewDelivery, Outbox


class Planner:
    """Plans each delivery's group and send time (notifier.rules.policy), remembering the
    groups planned earlier in the same cycle, which the store does not hold yet."""

    def __init__(self, store: Outbox, ruleset: RuleSet, now: float):
        self.store = store
        self.ruleset = ruleset
        self.now = now
        self.planned: dict[tuple[str, str, str], float] = {}

    def pending_group(self, rule: str, channel: str, group: str) -> float | None:
        planned = self.planned.get((rule, channel, group))
        return planned if planned is not None else self.store.pending_group(rule, channel, group)

    def last_group_send(self, rule: str, channel: str, group: str) -> float | None:
        return self.store.last_group_send(rule, channel, group)

    def delivery(self, match: Match, channel: str) -> NewDelivery:
        rule = match.rule
        policy = getattr(rule, "policy", None) or Policy()
        channel_def = self.ruleset.channels.get(channel)
        quiet = getattr(channel_def, "quiet_hours", None)
        alert = [_alert(match)]
        kind, key = match.event.kind, match.event.key
        if policy.is_default and quiet is None:
            return NewDelivery(rule.name, channel, kind, key, alert)
        decided = plan(
            policy,
            rule=rule.name,
            channel=channel,
            data=match.event.data,
            now=self.now,
            history=self,
            channel_quiet=quiet,
        )
        if decided.group is not None:
            self.planned.setdefault((rule.name, channel, decided.group), decided.not_before)
        return NewDelivery(rule.name, channel, kind, key, alert, decided.group, decided.not_before)


def _alert(match: Match) -> dict[str, JSONValue]:
    data: dict[str, JSONValue] = match.event.data
    if getattr(match.rule, "history", None) is not None:
        data = {**data, "history": earlier_dicts(match.history)}
    return {
        "event": match.event.kind,
        "key": match.event.key,
        "data": data,
        "reasons": [r.to_dict() for r in match.reasons],
    }
