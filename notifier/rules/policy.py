"""When a match may go out, and with which others: grouping, digests, quiet hours and
throttling (the rules file's `group_by`, `digest`, `quiet_hours`, `throttle`, `urgent`).

Pure planning, time passed in (after Alertmanager's dispatcher): every match still gets
its own outbox row, so "once per (rule, event key, channel)" holds whatever the policy;
the plan only sets the row's `group` and its earliest send time. Rows of one rule and
channel that share a group and are due together go out as ONE message. Nothing is
dropped: a held match waits in the outbox until its time comes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.events import EventData

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_duration(value: object) -> float:
    """`30`, `30s`, `5m`, `2h`, `1d` -> seconds. ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m, 2h or 1d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration like 30s, 5m, 2h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_clock(value: object) -> time:
    match = _CLOCK.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'{value!r} is not a time of day like "18:00"')
    return time(int(match.group(1)), int(match.group(2)))


def parse_zone(value: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'{value!r} is not a time zone like "Asia/Kolkata"') from None


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo

    def release_time(self, at: float) -> float | None:
        """If `at` falls inside the window, when the window ends; else None."""
        local = datetime.fromtimestamp(at, self.zone)
        today_start = local.replace(
            hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0
        )
        today_end = local.replace(
            hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0
        )
        if self.start <= self.end:  # same day, e.g. 12:00-14:00
            inside = today_start <= local < today_end
            end = today_end
        else:  # over midnight, e.g. 21:00-07:00
            if local >= today_start:
                inside, end = True, today_end + timedelta(days=1)
            else:
                inside, end = local < today_end, today_end
        return _ts(end) if inside else None


@dataclass(frozen=True)
class Digest:
    times: tuple[time, ...]
    zone: ZoneInfo

    def next_after(self, at: float) -> float:
        local = datetime.fromtimestamp(at, self.zone)
        candidates = [
            _at(local.date() + timedelta(days=offset), t, self.zone)
            for offset in (0, 1)
            for t in self.times
        ]
        return min(c for c in candidates if c > at)


@dataclass(frozen=True)
class Throttle:
    by: tuple[str, ...]
    within: float


@dataclass(frozen=True)
class Policy:
    group_by: tuple[str, ...] = ()
    group_wait: float = 30.0
    group_interval: float = 300.0
    digest: Digest | None = None
    quiet_hours: QuietHours | None = None
    throttle: Throttle | None = None
    urgent: bool = False

    @property
    def is_default(self) -> bool:
        return self == Policy()


@dataclass(frozen=True)
class Plan:
    group: str | None  # rows of one rule and channel with the same group go out together
    not_before: float


class History(Protocol):
    """What planning needs to know of the outbox (the store implements it)."""

    def pending_group(self, rule: str, channel: str, group: str) -> float | None:
        """The send time of rows of this group still queued, if any."""

    def last_group_send(self, rule: str, channel: str, group: str) -> float | None:
        """When a row of this group was last sent."""


@dataclass(frozen=True)
class Match:
    """What the planning stages know of one match: its rule, channel and fields, the
    time, and the outbox's memory of its groups."""

    policy: Policy
    rule: str
    channel: str
    data: EventData
    now: float
    history: History
    channel_quiet: QuietHours | None = None


@dataclass(frozen=True)
class Draft:
    """The plan so far. `settled`: the match joined a group already waiting, whose send
    time is fixed; no later stage moves it."""

    group: str | None
    not_before: float
    settled: bool = False


class PlanStage(Protocol):
    """One planning step with one job (after Alertmanager's notify stages): it takes
    the plan so far and gives it back, changed or not."""

    def __call__(self, draft: Draft, m: Match) -> Draft: ...


def digest_stage(draft: Draft, m: Match) -> Draft:
    """`digest`: the match waits for the next digest time, in that digest's group."""
    if m.policy.digest is None or draft.settled or draft.group is not None:
        return draft
    at = m.policy.digest.next_after(m.now)
    return Draft(f"digest:{int(at)}", at)


def group_stage(draft: Draft, m: Match) -> Draft:
    """`group_by`: join the group's queued rows, or wait `group_wait` (and
    `group_interval` after the group's last message)."""
    if not m.policy.group_by or draft.settled or draft.group is not None:
        return draft
    group = "group:" + _values(m.data, m.policy.group_by)
    pending = m.history.pending_group(m.rule, m.channel, group)
    if pending is not None:
        return Draft(group, pending, settled=True)
    not_before = m.now + m.policy.group_wait
    last = m.history.last_group_send(m.rule, m.channel, group)
    if last is not None:
        not_before = max(not_before, last + m.policy.group_interval)
    return Draft(group, not_before)


def throttle_stage(draft: Draft, m: Match) -> Draft:
    """`throttle`: at most one message per `by` values `within` the window; the rest of
    the window's matches join the one queued."""
    throttle = m.policy.throttle
    if throttle is None or draft.settled or draft.group is not None:
        return draft
    group = "throttle:" + _values(m.data, throttle.by)
    pending = m.history.pending_group(m.rule, m.channel, group)
    if pending is not None:
        return Draft(group, pending, settled=True)
    last = m.history.last_group_send(m.rule, m.channel, group)
    if last is not None and m.now < last + throttle.within:
        return Draft(group, last + throttle.within)
    return Draft(group, draft.not_before)


def quiet_hours_stage(draft: Draft, m: Match) -> Draft:
    """`quiet_hours` (the rule's, then the channel's; not for `urgent` rules): a match
    due inside a window waits to its end, grouped with the others it releases."""
    if m.policy.urgent or draft.settled:
        return draft
    group, not_before = draft.group, draft.not_before
    for window in (m.policy.quiet_hours, m.channel_quiet):
        release = window.release_time(not_before) if window is not None else None
        if release is not None:
            not_before = release
            group = f"{group or ''}|quiet:{int(release)}"
    return Draft(group, not_before)


#: The planning stages in order, composed in this one place. The first of digest, group
#: and throttle that a rule declares decides the group (a rule file declares at most one
#: of them in practice; the loader's precedence is this order); quiet hours come last.
PLAN_STAGES: tuple[PlanStage, ...] = (digest_stage, group_stage, throttle_stage, quiet_hours_stage)


def plan(
    policy: Policy,
    *,
    rule: str,
    channel: str,
    data: EventData,
    now: float,
    history: History,
    channel_quiet: QuietHours | None = None,
) -> Plan:
    """Decide a match's group and earliest send time by passing it through the planning
    stages. This runs when the match's outbox row is written, so the time it decides is
    kept on the row and a restart keeps it; the stages that act when a row is due (mute,
    render, send, record) are `notifier.delivery.chain`'s."""
    m = Match(policy, rule, channel, data, now, history, channel_quiet)
    draft = Draft(None, now)
    for stage in PLAN_STAGES:
        draft = stage(draft, m)
    return Plan(draft.group, draft.not_before)


def _values(data: EventData, fields: Sequence[str]) -> str:
    return json.dumps([data.get(f) for f in fields], default=str, separators=(",", ":"))


def _at(day: date, t: time, zone: ZoneInfo) -> float:
    return _ts(datetime(day.year, day.month, day.day, t.hour, t.minute, tzinfo=zone))


def _ts(dt: datetime) -> float:
    return dt.timestamp()
