"""The daily `student.inactive` check (contract section 11).

Once a day, at NOTIFIER_INACTIVITY_CHECK_AT in NOTIFIER_TIMEZONE (or at the first cycle
after it, when the notifier was stopped then), one event per student seen active within
the kept history and quiet for at least a day: how many whole days since their last
activity, and what it was. It reads only the state store (each student's latest
activity, kept by `record` from every event of the other sources), never Testpress.

The key is `<user_id>:<date of the last activity>`; the app delivers each (rule, key)
once (seen marks `<rule>|<key>`, kept as long as history is), so a student fires once
per quiet spell and again only after being active and then quiet again, while the daily
event still lets a `days_inactive: {gte: 14}` rule fire a week after a `gte: 7` one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from notifier.events import Activity, Event
from notifier.rules.history import DAY, HISTORY_MAX_DAYS
from notifier.rules.schema import Rule
from notifier.sources.base import PollContext, PollResult

KIND = "student.inactive"


def check_due(now: datetime, zone: ZoneInfo, check_at: str, last_check: str | None) -> str | None:
    """The local date of the check due now, or None: at or after `check_at` (HH:MM)
    local time, once per local date."""
    local = now.astimezone(zone)
    hour, minute = (int(part) for part in check_at.split(":"))
    if (local.hour, local.minute) < (hour, minute):
        return None
    today = local.date().isoformat()
    return None if last_check == today else today


def inactive_events(activities: Iterable[Activity], now: datetime, zone: ZoneInfo) -> list[Event]:
    """One event per student quiet for at least a whole day."""
    now_ts = now.timestamp()
    events = []
    for a in activities:
        days = int((now_ts - a.at) // DAY)
        if days < 1:
            continue
        last = datetime.fromtimestamp(a.at, zone)
        data: dict[str, Any] = {
            "user_id": int(a.user_id) if a.user_id.isdigit() else a.user_id,
            "student": a.student or a.email or f"user {a.user_id}",
            "email": a.email,
            "days_inactive": days,
            "last_activity": last.isoformat(timespec="seconds"),
            "last_activity_kind": a.kind,
            "last_activity_title": a.title,
        }
        events.append(Event(KIND, f"{a.user_id}:{last.date().isoformat()}", data))
    return events


class InactivitySource:
    name = "inactivity"
    kinds: tuple[str, ...] = (KIND,)

    def query_filters(self, rules: Sequence[Rule]) -> dict[str, Any]:
        return {}

    def poll(self, ctx: PollContext) -> PollResult:
        """Nothing, except once a day. No baseline: the activity it reads was recorded
        by the other sources' baselines, so nobody is "quiet" on the first day."""
        result = PollResult()
        zone = ZoneInfo(ctx.timezone)
        due = check_due(
            ctx.now,
            zone,
            ctx.inactivity_check_at,
            ctx.store.sources.get_state(self.name, "last_check"),
        )
        if due is None:
            return result
        result.state["last_check"] = due
        since = ctx.now - timedelta(days=HISTORY_MAX_DAYS)
        result.events = inactive_events(
            ctx.store.history.activities(since.timestamp()), ctx.now, zone
        )
        result.read = len(result.events)
        return result
