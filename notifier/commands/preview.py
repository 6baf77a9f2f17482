"""`notifier preview [--days N]`: what the current rules would have sent over the last N
days, so an admin can tune a threshold before enabling a rule.

It reads Testpress through the same sources as `run` (their `poll`, with `since` set N
days back and an in-memory state store, so nothing is written), evaluates every event
with the production evaluator and renders samples with the production renderer. It
sends nothing. Live classes are treated as settled (`conference_settle_minutes=0`):
what matters for a past class is who left when, not whether the list is still moving.
"""

from __future__ import annotations

import argparse
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO

from notifier.channels.base import Alert, Notification
from notifier.commands.ruletest import readable
from notifier.delivery.render import email_message, plain_text, slack_message
from notifier.delivery.slack_blocks import block_texts
from notifier.obs.logs import redact, register_secrets
from notifier.rules.evaluate import Match, evaluate_in_order, steps_of
from notifier.rules.history import HistoryBook, earlier_dicts, kept_fields
from notifier.rules.schema import RuleSet
from notifier.rules.templates import RuleTemplates
from notifier.runtime.config import load_rules
from notifier.runtime.sources import make_sources, sources_for
from notifier.runtime.wiring import make_client
from notifier.settings import load_settings
from notifier.sources.base import PollContext, Source
from notifier.state import SqliteStore
from notifier.testpress.client import TestpressClient, TestpressError
from notifier.text import one_line

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


def sample_text(n: Notification, channel_type: str, t: RuleTemplates | None) -> str:
    """One alert as its channel shows it first: Slack's blocks, an email's subject, the
    plain text elsewhere."""
    if channel_type == "slack":
        _, blocks = slack_message(n, t)
        return readable(" | ".join(block_texts(blocks)))
    if channel_type == "email":
        return email_message(n, t)[0]
    return plain_text(n, t)


def run_preview(
    ruleset: RuleSet,
    client: TestpressClient,
    *,
    days: float = 1.0,
    samples: int = SAMPLES,
    now: datetime | None = None,
    sources: dict[str, Source] | None = None,
    timezone: str = "Asia/Kolkata",
) -> Preview:
    """Read the last `days` days, evaluate, tally. Never sends, never writes state."""
    if sources is None:
        sources = make_sources()
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    result = Preview(days, since)
    for rule in ruleset.rules:
        result.matches[rule.name] = 0
        result.channels[rule.name] = [
            ChannelTally(ch, ruleset.channels[ch].type) for ch in rule.notify
        ]
    used = sources_for(ruleset.kinds_used())
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
                _tally(result, match, samples)
            store.seen.record(name, [], [], history=polled.history)  # in memory: the check reads it
    finally:
        store.close()
    return result


def _tally(result: Preview, match: Match, samples: int) -> None:
    event = match.event
    result.matches[match.rule.name] += 1
    data = event.data
    if match.rule.history is not None:
        data = {**data, "history": earlier_dicts(match.history)}
    alert = Alert(event.kind, event.key, data, match.reasons)
    for tally in result.channels[match.rule.name]:
        tally.count += 1
        if len(tally.samples) < samples:
            n = Notification("preview", match.rule.name, tally.channel, (alert,))
            tally.samples.append(sample_text(n, tally.type, match.rule.templates))


def print_preview(p: Preview, ruleset: RuleSet, out: TextIO) -> None:
    days = f"{p.days:g} day{'' if p.days == 1 else 's'}"
    print(f"Preview of {ruleset.path} over the last {days} (since {_iso(p.since)})", file=out)
    read = ", ".join(f"{name}: {count} events" for name, count in p.events.items())
    print(f"read {read or 'nothing (no rule needs a source)'}", file=out)
    for name, error in p.errors.items():
        print(f"{name}: could not be read completely: {one_line(error, 300)}", file=out)
    for rule in ruleset.rules:
        count = p.matches.get(rule.name, 0)
        print(f"\n{rule.name} ({rule.event}): {count} match{'' if count == 1 else 'es'}", file=out)
        for tally in p.channels.get(rule.name, []):
            print(f"  {tally.channel} ({tally.type}): {tally.count} alerts", file=out)
            for sample in tally.samples:
                print(f"    {one_line(sample, 400)}", file=out)
    for name in ruleset.disabled:
        print(f"\n{name}: disabled (enabled: false), never fires", file=out)
    print("\nNothing was sent and no state was written.", file=out)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="minutes")


def preview_command(
    ruleset: RuleSet,
    client: TestpressClient,
    out: TextIO,
    days: float,
    samples: int = SAMPLES,
    *,
    now: datetime | None = None,
    sources: dict[str, Source] | None = None,
    timezone: str = "Asia/Kolkata",
) -> int:
    """Run and print; 0 when every source was read, 1 when one could not be."""
    result = run_preview(
        ruleset, client, days=days, samples=samples, now=now, sources=sources, timezone=timezone
    )
    print_preview(result, ruleset, out)
    return 1 if result.errors else 0


def cmd_preview(args: argparse.Namespace) -> int:
    """`notifier preview`: the client alone (no store, no channels), its secrets known
    to the redaction before anything is read."""
    settings = load_settings()
    register_secrets(
        s.get_secret_value() if s else None
        for s in (settings.testpress_token, settings.testpress_password)
    )
    ruleset = load_rules(args.path or settings.rules_path, None)
    client = make_client(settings)
    try:
        out = io.StringIO()
        code = preview_command(
            ruleset, client, out, args.days, args.samples, timezone=settings.timezone
        )
        print(redact(out.getvalue()), end="")
        return code
    finally:
        client.close()
