"""What rules would have sent over a past period read from Testpress: the engine of
`notifier preview` (`notifier.commands.preview` prints it) and of the console's
preview of a draft when the store's history cannot answer (`notifier.drafts.preview`).

It reads Testpress through the same sources as `run` (their `poll`, with `since` set N
days back and an in-memory state store, so nothing is written), evaluates every event
with the production evaluator and renders samples with the production renderer. It
sends nothing. Live classes are treated as settled (`conference_settle_minutes=0`):
what matters for a past class is who left when, not whether the list is still moving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from notifier.channels.base import Alert, Notification
from notifier.delivery.render import email_message, plain_text, slack_message
from notifier.delivery.slack_blocks import block_texts
from notifier.drafts.ruletests import readable
from notifier.rules.evaluate import Match, evaluate_in_order, steps_of, time_of
from notifier.rules.history import HistoryBook, earlier_dicts, kept_fields
from notifier.rules.schema import RuleSet
from notifier.rules.templates import RuleTemplates
from notifier.sources.base import PollContext, Source
from notifier.state import SqliteStore
from notifier.testpress.client import TestpressClient, TestpressError

SAMPLES = 3


@dataclass
class ChannelTally:
    channel: str
    type: str
    count: int = 0
    samples: list[str] = field(default_factory=list)


@dataclass
class Preview:
    days: float
    since: datetime
    events: dict[str, int] = field(default_factory=dict)  # per source
    errors: dict[str, str] = field(default_factory=dict)  # per source that failed
    matches: dict[str, int] = field(default_factory=dict)  # per rule, in the rules' order
    channels: dict[str, list[ChannelTally]] = field(default_factory=dict)  # per rule
    alerts_at: list[float] = field(default_factory=list)  # each alert's event time (per day)


def sample_text(n: Notification, channel_type: str, t: RuleTemplates | None) -> str:
    """One alert as its channel shows it first: Slack's blocks, an email's subject, the
    plain text elsewhere."""
    if channel_type == "slack":
        _, blocks = slack_message(n, t)
        return readable(" | ".join(block_texts(blocks)))
    if channel_type == "email":
        return email_message(n, t)[0]
    return plain_text(n, t)


def empty_preview(ruleset: RuleSet, days: float, since: datetime) -> Preview:
    """A preview with every rule and channel at zero, in the rules' order."""
    result = Preview(days, since)
    for rule in ruleset.rules:
        result.matches[rule.name] = 0
        result.channels[rule.name] = [
            ChannelTally(ch, ruleset.channels[ch].type) for ch in rule.notify
        ]
    return result


def read_period(
    ruleset: RuleSet,
    client: TestpressClient,
    sources: dict[str, Source],
    used: set[str],
    *,
    days: float = 1.0,
    samples: int = SAMPLES,
    now: datetime | None = None,
    timezone: str = "Asia/Kolkata",
) -> Preview:
    """Read the last `days` days from Testpress through `sources` (those named in
    `used`: the ones the rules need), evaluate, tally. Never sends, never writes
    state."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    result = empty_preview(ruleset, days, since)
    store = SqliteStore(":memory:")
    book = HistoryBook()
    try:
        for name, source in sources.items():
            if name not in used:
                continue
            ctx = PollContext(
                client=client,
                store=store,
                rules=[r for r in ruleset.rules if r.event in source.kinds],
                now=now,
                lookback_hours=days * 24,
                baseline=False,
                since=since.date(),
                conference_settle_minutes=0,
                extra_conferences=ruleset.sources.conferences,
                history_fields=kept_fields(ruleset.rules),
                inactivity_check_at="00:00",  # the check runs on what the period holds
                timezone=timezone,
            )
            try:
                polled = source.poll(ctx)
            except TestpressError as exc:
                result.errors[name] = str(exc)
                continue
            if polled.errors:
                result.errors[name] = "; ".join(polled.errors[:3])
            result.events[name] = len(polled.events) if polled.read is None else polled.read
            # History is what the period read holds, in time order (contract section 11).
            steps = steps_of(polled.events, polled.history, now.timestamp())
            matches, _ = evaluate_in_order(ruleset.rules, steps, book)
            for match in matches:
                tally_match(result, match, samples, time_of(match.event, now.timestamp()))
            store.seen.record(name, [], [], history=polled.history)  # in memory: the check reads it
    finally:
        store.close()
    return result


def tally_match(result: Preview, match: Match, samples: int, at: float) -> None:
    """Count one match on each of its rule's channels; keep a rendered sample while
    there are fewer than `samples`."""
    event = match.event
    result.matches[match.rule.name] += 1
    data = event.data
    if match.rule.history is not None:
        data = {**data, "history": earlier_dicts(match.history)}
    alert = Alert(event.kind, event.key, data, match.reasons)
    for tally in result.channels[match.rule.name]:
        tally.count += 1
        result.alerts_at.append(at)
        if len(tally.samples) < samples:
            n = Notification("preview", match.rule.name, tally.channel, (alert,))
            tally.samples.append(sample_text(n, tally.type, match.rule.templates))
