"""`preview_draft`: what a draft of the rules would have sent over the last 1, 7 or 30
days, beside what the active rules did send (the outbox), per rule and channel and per
day, with a few samples as each channel would show them.

The draft runs over the events the store keeps when they hold every field it reads (no
Testpress request: `history_preview`); otherwise over Testpress, as `notifier preview`
reads it (`period`), when the caller can reach Testpress; the result says which, and
why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.drafts.history_preview import (
    HistoryReader,
    history_gaps,
    preview_history,
    warm_note,
)
from notifier.drafts.period import SAMPLES, Preview
from notifier.rules.history import HISTORY_KINDS
from notifier.rules.schema import Rule, RuleSet
from notifier.state.rules_base import SentCount

# Reads the period from Testpress for a rule set: (rules, days, samples) -> Preview.
TestpressPeriod = Callable[[RuleSet, float, int], Preview]
POLLED_KINDS = (*HISTORY_KINDS, "student.inactive")


@dataclass(frozen=True)
class RowCount:
    """One rule and channel: the draft's alerts beside the active rules' (None: the
    rule or channel is not in that version)."""

    rule: str
    channel: str
    channel_type: str | None
    draft: int | None
    active: int | None
    samples: tuple[str, ...] = ()


@dataclass
class DraftPreview:
    days: float
    since: datetime
    source: str  # "history" (the store's kept events) or "testpress"
    why: list[str] = field(default_factory=list)  # why not from history (source testpress)
    notes: list[str] = field(default_factory=list)
    events: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # Testpress sources that failed
    rows: list[RowCount] = field(default_factory=list)
    per_day: list[tuple[date, int, int]] = field(default_factory=list)  # day, draft, active

    @property
    def draft_total(self) -> int:
        return sum(r.draft or 0 for r in self.rows)

    @property
    def active_total(self) -> int:
        return sum(r.active or 0 for r in self.rows)


def preview_draft(
    draft: RuleSet,
    *,
    days: float,
    store: HistoryReader,
    sent: Callable[[float], list[SentCount]],
    running: Iterable[Rule],
    testpress: TestpressPeriod | None = None,
    now: datetime | None = None,
    timezone: str = "Asia/Kolkata",
    samples: int = SAMPLES,
) -> DraftPreview:
    """Preview `draft` over the last `days` days. `running`: the active rules (whose
    fields history has kept); `sent(since)`: the outbox's counts since then;
    `testpress`: how to read the period from Testpress (None: history only)."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    running = list(running)
    gaps = history_gaps(draft, running)
    if not gaps:
        period = preview_history(draft, store, days=days, now=now, samples=samples)
        result = DraftPreview(days, since, "history")
        note = warm_note(draft)
        if note is not None:
            result.notes.append(note)
    elif testpress is not None:
        period = testpress(draft, days, samples)
        result = DraftPreview(days, since, "testpress", why=gaps)
    else:
        result = DraftPreview(days, since, "none", why=gaps)
        result.notes.append("Testpress is not configured here, so this draft cannot be previewed")
        period = Preview(days, since)
    result.events = sum(period.events.values())
    result.errors = dict(period.errors)
    others = sorted({r.event for r in draft.rules} - set(POLLED_KINDS))
    if others:
        result.notes.append(
            f"rules of {', '.join(others)} are not previewed: those events are not read back"
        )
    counts = sent(since.timestamp())
    result.rows = _rows(draft, period, counts, {r.name for r in running})
    result.per_day = _per_day(period.alerts_at, counts, since, now, ZoneInfo(timezone))
    return result


def _rows(
    draft: RuleSet, period: Preview, counts: list[SentCount], running: set[str]
) -> list[RowCount]:
    active: dict[tuple[str, str], int] = {}
    for c in counts:
        active[(c.rule, c.channel)] = active.get((c.rule, c.channel), 0) + c.count
    rows = []
    for rule in draft.rules:
        for tally in period.channels.get(rule.name, []):
            key = (rule.name, tally.channel)
            rows.append(
                RowCount(
                    rule.name,
                    tally.channel,
                    tally.type,
                    tally.count,
                    active.pop(key, 0) if rule.name in running else active.pop(key, None),
                    tuple(tally.samples),
                )
            )
    for (rule_name, channel), n in sorted(active.items()):  # sent, but not in the draft
        rows.append(RowCount(rule_name, channel, None, None, n))
    return rows


def _per_day(
    alerts_at: list[float],
    counts: list[SentCount],
    since: datetime,
    now: datetime,
    tz: ZoneInfo,
) -> list[tuple[date, int, int]]:
    first, last = since.astimezone(tz).date(), now.astimezone(tz).date()
    days = {first + timedelta(days=i): [0, 0] for i in range((last - first).days + 1)}
    for at in alerts_at:
        day = datetime.fromtimestamp(at, tz).date()
        if day in days:
            days[day][0] += 1
    for c in counts:
        day = datetime.fromtimestamp(c.slot, tz).date()
        if day in days:
            days[day][1] += c.count
    return [(day, d, a) for day, (d, a) in sorted(days.items())]


__all__ = ["DraftPreview", "RowCount", "TestpressPeriod", "preview_draft"]
