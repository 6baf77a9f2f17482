"""An alert's Slack message redrawn after a click, from what the store says now (not
from what the click's copy of the message showed): who followed it up and when, which
mutes hold it, and the buttons that still make sense. Pure: the time zone and `now`
are passed in.

The alert's own blocks are kept as Slack sent them back with the click (the renderer
drew them); only our status line and buttons (`notifier.*` block ids) are replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from notifier.actions.slack_payload import USER_ID
from notifier.actions.slack_protocols import DeliveryView, FollowUpView, MuteView
from notifier.channels.slack_buttons import (
    actions_block,
    mrkdwn_escape,
    status_block,
    without_ours,
)


def who(by: str, name: str | None = None) -> str:
    """`<@U123>` for a Slack user (Slack shows their name), else the escaped name of a
    console or command-line user."""
    if USER_ID.fullmatch(by):
        return f"<@{by}>"
    return mrkdwn_escape(name or by)


def clock_time(when: datetime, zone: tzinfo) -> str:
    return when.astimezone(zone).strftime("%H:%M")


def followed_line(f: FollowUpView, zone: tzinfo) -> str:
    return f"Followed up by {who(f.by, f.by_name)} at {clock_time(f.at, zone)}"


def applies(mute: MuteView, facts: DeliveryView, now: datetime) -> bool:
    """The mute holds now and matches this message (its student, or one of a group's,
    its rule, its channel)."""
    if mute.ended_at is not None or mute.until <= now:
        return False
    if mute.student is None and mute.rule is None:
        return False
    return (
        (mute.student is None or mute.student in facts.students)
        and (mute.rule is None or mute.rule == facts.rule)
        and (mute.channel is None or mute.channel == facts.channel)
    )


def _student_name(facts: DeliveryView, student: str) -> str:
    names = dict(zip(facts.students, facts.student_names, strict=False))
    return names.get(student) or student


def mute_line(mute: MuteView, facts: DeliveryView, zone: tzinfo) -> str:
    parts = []
    if mute.student is not None:
        parts.append(f"student {_student_name(facts, mute.student)}")
    if mute.rule is not None:
        parts.append(f"rule {mute.rule}")
    what = mrkdwn_escape(" for ".join(parts))
    if mute.channel is not None:
        what += f" in {mrkdwn_escape(mute.channel)}"
    until = mute.until.astimezone(zone).strftime("%d %b %H:%M")
    return f"Muted {what} by {who(mute.by)} until {until}"


def redrawn(
    blocks: Sequence[dict[str, Any]],
    delivery_id: str,
    facts: DeliveryView,
    mutes: Sequence[MuteView],
    *,
    zone: tzinfo,
    now: datetime,
) -> list[dict[str, Any]]:
    """The message's blocks as they should read now; the buttons carry `delivery_id`
    (the id the clicked button carried)."""
    holding = [m for m in mutes if applies(m, facts, now)]
    lines = []
    if facts.followed_up is not None:
        lines.append(followed_line(facts.followed_up, zone))
    lines += [mute_line(m, facts, zone) for m in holding]
    drawn = without_ours(list(blocks))
    if lines:
        drawn.append(status_block(lines))
    drawn.append(
        actions_block(
            delivery_id,
            follow_up=facts.followed_up is None,
            mute=not holding,
            unmute=bool(holding),
        )
    )
    return drawn


__all__ = ["applies", "clock_time", "followed_line", "mute_line", "redrawn", "who"]
