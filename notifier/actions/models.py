"""What the actions service gives back (`notifier.actions.service`): who followed up,
a mute as people see it, what a click or a console page needs about a delivery, what a
replay did; and the errors for an unknown delivery or mute. Imported from `service`
by its users (the names are the agreed seam with Slack and the console)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from notifier.events import JSONValue
from notifier.state import iso
from notifier.state.actions_base import FollowUpRecord, MuteRecord


class UnknownDelivery(LookupError):
    """No delivery has this id."""


class UnknownMute(LookupError):
    """No mute has this id."""


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class FollowUp:
    """Who followed up a delivery (the first one wins); `first`: this call made it."""

    delivery: str
    by: str
    by_name: str
    at: datetime
    first: bool

    @classmethod
    def of(cls, record: FollowUpRecord, first: bool) -> FollowUp:
        return cls(record.delivery, record.by, record.by_name, _dt(record.at), first)


@dataclass(frozen=True)
class Mute:
    """A mute as people see it. `ended_at`: when it was lifted or ran out (None while
    it holds, as of when it was read)."""

    id: str
    student: str | None
    rule: str | None
    channel: str | None
    until: datetime
    by: str
    reason: str
    created_at: datetime
    ended_at: datetime | None
    ended_by: str | None = None  # who lifted it (None: it ran out, or holds)
    source: str = "cli"

    @property
    def active(self) -> bool:
        return self.ended_at is None

    def active_at(self, now: datetime) -> bool:
        return (self.ended_at is None or now < self.ended_at) and now < self.until

    @classmethod
    def of(cls, m: MuteRecord, now: float) -> Mute:
        end = m.end(now)
        return cls(
            id=m.id,
            student=m.student,
            rule=m.rule,
            channel=m.channel,
            until=_dt(m.until),
            by=m.by,
            reason=m.reason,
            created_at=_dt(m.created_at),
            ended_at=None if end is None else _dt(end),
            ended_by=m.ended_by,
            source=m.source,
        )

    def to_json(self) -> dict[str, JSONValue]:
        """As `notifier mutes --json` prints it (times ISO 8601 with their offset)."""
        return {
            "id": self.id,
            "student": self.student,
            "rule": self.rule,
            "channel": self.channel,
            "until": iso(self.until.timestamp()),
            "by": self.by,
            "reason": self.reason,
            "created_at": iso(self.created_at.timestamp()),
            "ended_at": None if self.ended_at is None else iso(self.ended_at.timestamp()),
            "ended_by": self.ended_by,
            "active": self.active,
        }

    def scope(self) -> str:
        """What it mutes, in words: `student 123, rule failed-exam, channel lms`."""
        parts = [
            f"{what} {value}"
            for what, value in (
                ("student", self.student),
                ("rule", self.rule),
                ("channel", self.channel),
            )
            if value
        ]
        return ", ".join(parts)


@dataclass(frozen=True)
class DeliveryFacts:
    """What a click or a console page needs about one delivery."""

    id: str
    rule: str
    channel: str
    status: str
    students: tuple[str, ...]  # the user ids (or emails) the message is about
    student_names: tuple[str, ...]
    message_ref: str | None  # as stored on the outbox row (Slack: channel id + ts)
    followed_up: FollowUp | None


@dataclass(frozen=True)
class ReplayResult:
    """What `replay` did: the ids queued again (`muted`: those of them that were
    muted), and each id it could not queue with why (`unknown`, or its status)."""

    queued: tuple[str, ...]
    refused: dict[str, str]
    muted: tuple[str, ...] = ()


__all__ = [
    "DeliveryFacts",
    "FollowUp",
    "Mute",
    "ReplayResult",
    "UnknownDelivery",
    "UnknownMute",
]
