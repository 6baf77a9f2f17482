"""What people did to alerts, as events (contract section 13): `alert.followed_up`,
`mute.created` and `mute.ended`, read back each cycle from the follow-ups and mutes the
store keeps (whoever made them: Slack, the console, the command line, any replica).

Each event's key is marked seen by `record` in the same transaction as its deliveries,
so it reaches the rules once, through the outbox. `mute.ended` is given once a mute is
lifted or its `until` has passed (the mute stage itself compares `until` with the clock
as each delivery is due, so the end of a mute is exact; only its event waits for the
next cycle).

Only what happened in the last WINDOW_SECONDS is read: less than the seen marks are
kept (the lookback plus three days), so no event is read again after its mark is
pruned. The first poll's baseline does not apply: these events are made by people
on this notifier, never a backlog of Testpress's, so none is swallowed (a rule on them
added later gets those of the window once).
"""

from __future__ import annotations

from collections.abc import Sequence

from notifier.events import Event, FieldValue
from notifier.rules.schema import Rule
from notifier.sources.base import Filters, PollContext, PollResult
from notifier.state import iso
from notifier.state.actions_base import FollowUpRecord, MuteRecord

FOLLOWED_UP = "alert.followed_up"
MUTE_CREATED = "mute.created"
MUTE_ENDED = "mute.ended"
WINDOW_SECONDS = 2 * 86400.0


def followed_up_event(f: FollowUpRecord) -> Event:
    data: dict[str, FieldValue] = {
        "delivery": f.delivery,
        "rule": f.rule,
        "channel": f.channel,
        "student": f.student,
        "user_id": f.user_id,
        "by": f.by,
        "by_name": f.by_name,
        "at": iso(f.at),
    }
    return Event(FOLLOWED_UP, f"{f.delivery}:followed_up", data)


def mute_data(m: MuteRecord, now: float, *, ended: bool) -> dict[str, FieldValue]:
    end = m.end(now) if ended else None
    lifted = ended and m.ended_at is not None and m.ended_at < m.until
    return {
        "id": m.id,
        "student": m.student,
        "rule": m.rule,
        "channel": m.channel,
        "until": iso(m.until),
        "by": m.by,
        "reason": m.reason,
        "created_at": iso(m.created_at),
        "ended_at": iso(end),
        "ended_by": m.ended_by if lifted else None,
        "lifted": lifted if ended else None,
    }


def action_events(
    follow_ups: Sequence[FollowUpRecord], mutes: Sequence[MuteRecord], since: float, now: float
) -> list[Event]:
    """The events of what happened at or after `since`, oldest first."""
    timed: list[tuple[float, Event]] = [(f.at, followed_up_event(f)) for f in follow_ups]
    for m in mutes:
        if m.created_at >= since:
            data = mute_data(m, now, ended=False)
            timed.append((m.created_at, Event(MUTE_CREATED, f"{m.id}:created", data)))
        end = m.end(now)
        if end is not None and end >= since:
            data = mute_data(m, now, ended=True)
            timed.append((end, Event(MUTE_ENDED, f"{m.id}:ended", data)))
    timed.sort(key=lambda pair: pair[0])
    return [event for _, event in timed]


class ActionsSource:
    """Reads the store only, never Testpress."""

    name: str = "actions"
    kinds: tuple[str, ...] = (FOLLOWED_UP, MUTE_CREATED, MUTE_ENDED)
    baselines = False  # the first poll alerts too (the run loop asks)

    def poll(self, ctx: PollContext) -> PollResult:
        now = ctx.now.timestamp()
        since = now - WINDOW_SECONDS
        wanted = {rule.event for rule in ctx.rules}
        events = [
            e
            for e in action_events(
                ctx.store.follow_ups.since(since) if FOLLOWED_UP in wanted else [],
                ctx.store.mutes.changed_since(since, now) if wanted - {FOLLOWED_UP} else [],
                since,
                now,
            )
            if e.kind in wanted
        ]
        new = ctx.store.seen.unseen(self.name, [e.key for e in events])
        events = [e for e in events if e.key in new]
        return PollResult(events=events, seen=[e.key for e in events])

    def query_filters(self, rules: Sequence[Rule]) -> Filters:
        return {}


__all__ = ["ActionsSource", "action_events", "followed_up_event"]
