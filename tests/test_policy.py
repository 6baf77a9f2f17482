"""Pure planning of grouped, digested, quiet and throttled alerts, with an injected clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from notifier.rules.policy import (
    Digest,
    Policy,
    QuietHours,
    Throttle,
    parse_clock,
    parse_duration,
    plan,
)

IST = ZoneInfo("Asia/Kolkata")


def ist(hh: int, mm: int = 0, day: int = 25) -> float:
    return datetime(2026, 11, day, hh, mm, tzinfo=IST).timestamp()


class FakeHistory:
    def __init__(self) -> None:
        self.pending: dict[str, float] = {}
        self.sent: dict[str, float] = {}

    def pending_group(self, rule: str, channel: str, group: str) -> float | None:
        return self.pending.get(group)

    def last_group_send(self, rule: str, channel: str, group: str) -> float | None:
        return self.sent.get(group)


def _plan(policy: Policy, data: dict, now: float, history: FakeHistory | None = None, **kw):
    return plan(
        policy, rule="r", channel="c", data=data, now=now, history=history or FakeHistory(), **kw
    )


def test_durations_and_clock_times() -> None:
    assert [parse_duration(v) for v in (45, "30s", "5m", "2h", "1d", "1.5h")] == [
        45,
        30,
        300,
        7200,
        86400,
        5400,
    ]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    assert parse_clock("07:05").hour == 7
    with pytest.raises(ValueError, match="time of day"):
        parse_clock("25:00")


def test_a_plain_rule_sends_now_alone() -> None:
    p = _plan(Policy(), {"exam_id": 1}, ist(10))
    assert p.group is None and p.not_before == ist(10)


def test_grouping_waits_then_later_matches_join_the_waiting_group() -> None:
    policy = Policy(group_by=("exam_id",), group_wait=60, group_interval=600)
    history = FakeHistory()
    first = _plan(policy, {"exam_id": 133}, ist(10), history)
    assert first.not_before == ist(10) + 60
    history.pending[first.group] = first.not_before  # type: ignore[index]
    joined = _plan(policy, {"exam_id": 133}, ist(10) + 30, history)
    assert joined == first
    other_exam = _plan(policy, {"exam_id": 134}, ist(10) + 30, history)
    assert other_exam.group != first.group


def test_after_a_group_message_the_next_waits_out_the_group_interval() -> None:
    policy = Policy(group_by=("exam_id",), group_wait=60, group_interval=600)
    history = FakeHistory()
    group = _plan(policy, {"exam_id": 133}, ist(10), history).group
    history.sent[group] = ist(10, 1)  # type: ignore[index]
    assert _plan(policy, {"exam_id": 133}, ist(10, 2), history).not_before == ist(10, 11)


def test_digest_goes_out_at_the_next_of_its_times_in_its_zone() -> None:
    digest = Digest((parse_clock("09:00"), parse_clock("18:00")), IST)
    policy = Policy(digest=digest)
    assert _plan(policy, {}, ist(10)).not_before == ist(18)
    assert _plan(policy, {}, ist(19)).not_before == ist(9, day=26)
    assert _plan(policy, {}, ist(8)).group == _plan(policy, {}, ist(8, 30)).group


def test_quiet_hours_hold_until_the_window_ends_unless_urgent() -> None:
    quiet = QuietHours(parse_clock("21:00"), parse_clock("07:00"), IST)
    late = _plan(Policy(quiet_hours=quiet), {}, ist(23))
    early = _plan(Policy(quiet_hours=quiet), {}, ist(6, day=26))
    assert late.not_before == ist(7, day=26) and late.group == early.group  # sent together
    assert _plan(Policy(quiet_hours=quiet), {}, ist(12)).not_before == ist(12)
    assert _plan(Policy(quiet_hours=quiet, urgent=True), {}, ist(23)).not_before == ist(23)
    by_channel = _plan(Policy(), {}, ist(22), channel_quiet=quiet)
    assert by_channel.not_before == ist(7, day=26)
    midday = QuietHours(parse_clock("12:00"), parse_clock("14:00"), IST)
    assert midday.release_time(ist(13)) == ist(14) and midday.release_time(ist(15)) is None


def test_throttle_holds_repeat_alerts_about_one_student_and_never_drops_them() -> None:
    policy = Policy(throttle=Throttle(("user_id",), 86400))
    history = FakeHistory()
    first = _plan(policy, {"user_id": 7}, ist(10), history)
    assert first.not_before == ist(10)
    history.sent[first.group] = ist(10)  # type: ignore[index]
    held = _plan(policy, {"user_id": 7}, ist(15), history)
    assert held.not_before == ist(10, day=26) and held.group == first.group
    history.pending[held.group] = held.not_before  # type: ignore[index]
    assert _plan(policy, {"user_id": 7}, ist(16), history) == held  # joins the held message
    assert _plan(policy, {"user_id": 8}, ist(15), history).not_before == ist(15)
