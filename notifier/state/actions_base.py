"""The store's concerns for what people do to alerts (contract section 13): mutes,
follow-ups and the audit log. Each is a class of its own per backend holding the
store's connection, exposed as an attribute (`store.mutes`, `store.follow_ups`,
`store.audit`), not mixed into the store: the store is becoming a composite of its
concerns (issue 18), and these are written that way from the start.

Times are Unix seconds, as everywhere in the store; `notifier.actions.service` turns
them into datetimes for people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from notifier.events import JSONValue
from notifier.state.packed import alerts_text
from notifier.state.rows import Row

# What a mute row's columns are called (`made_by`: `by` is an SQL keyword).
MUTE_COLUMNS = (
    "id, student, rule, channel, until, made_by, reason, source, created_at, ended_at, ended_by"
)
FOLLOW_UP_COLUMNS = "delivery, followed_by, by_name, at, source, rule, channel, student, user_id"
AUDIT_COLUMNS = "id, at, actor, source, action, target, detail"
# `outbox.mute_id` of a muted row a person sent anyway: never held again.
REPLAYED = "replayed"
# Two mutes of the same scope made this close together are one click made twice.
SAME_MUTE_SECONDS = 120.0


@dataclass(frozen=True)
class MuteRecord:
    """One mute as stored. `ended_at` is set only when it was lifted early; a mute
    whose `until` has passed has ended then."""

    id: str
    student: str | None
    rule: str | None
    channel: str | None
    until: float
    by: str
    reason: str
    source: str
    created_at: float
    ended_at: float | None = None
    ended_by: str | None = None

    def active(self, now: float) -> bool:
        return self.ended_at is None and now < self.until

    def end(self, now: float) -> float | None:
        """When it ended (lifted, or `until` passed), or None while it holds."""
        if self.ended_at is not None:
            return min(self.ended_at, self.until)
        return self.until if now >= self.until else None


def mute_of(row: Row) -> MuteRecord:
    return MuteRecord(
        id=row["id"],
        student=row["student"],
        rule=row["rule"],
        channel=row["channel"],
        until=float(row["until"]),
        by=row["made_by"],
        reason=row["reason"],
        source=row["source"],
        created_at=float(row["created_at"]),
        ended_at=None if row["ended_at"] is None else float(row["ended_at"]),
        ended_by=row["ended_by"],
    )


def mute_values(m: MuteRecord) -> list[object]:
    """The row's values in MUTE_COLUMNS order."""
    return [
        m.id, m.student, m.rule, m.channel, m.until, m.by, m.reason, m.source,
        m.created_at, m.ended_at, m.ended_by,
    ]  # fmt: skip


@dataclass(frozen=True)
class FollowUpRecord:
    """Who followed up a delivery first, and what the delivery was about (kept with it,
    so its event needs nothing else)."""

    delivery: str
    by: str
    by_name: str
    at: float
    source: str
    rule: str
    channel: str
    student: str | None = None
    user_id: str | None = None


def follow_up_of(row: Row) -> FollowUpRecord:
    return FollowUpRecord(
        delivery=row["delivery"],
        by=row["followed_by"],
        by_name=row["by_name"],
        at=float(row["at"]),
        source=row["source"],
        rule=row["rule"],
        channel=row["channel"],
        student=row["student"],
        user_id=row["user_id"],
    )


def follow_up_values(f: FollowUpRecord) -> list[object]:
    return [f.delivery, f.by, f.by_name, f.at, f.source, f.rule, f.channel, f.student, f.user_id]


@dataclass(frozen=True)
class AuditEntry:
    """One change a person made: who, from where (slack, console, cli), what, to what."""

    id: int
    at: datetime
    by: str
    source: str
    action: str
    target: str
    detail: str


def audit_of(row: Row) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=datetime.fromtimestamp(float(row["at"]), UTC),
        by=row["actor"],
        source=row["source"],
        action=row["action"],
        target=row["target"],
        detail=row["detail"],
    )


@dataclass(frozen=True)
class DeliveryRecord:
    """An outbox row as an action sees it: what it was about and where it went."""

    id: str
    rule: str
    channel: str
    status: str
    alerts: list[dict[str, JSONValue]]
    message_ref: str | None
    mute_id: str | None
    created_at: float


DELIVERY_RECORD_COLUMNS = "id, rule, channel, status, alerts, message_ref, mute_id, created_at"


def delivery_of(row: Row) -> DeliveryRecord:
    alerts = row["alerts"]
    return DeliveryRecord(
        id=row["id"],
        rule=row["rule"],
        channel=row["channel"],
        status=row["status"],
        alerts=json.loads(alerts_text(alerts))
        if isinstance(alerts, str | bytes)
        else list(alerts or []),
        message_ref=row["message_ref"],
        mute_id=row["mute_id"],
        created_at=float(row["created_at"]),
    )


class MuteStore(Protocol):
    """`store.mutes`: the mutes, read by the mute stage when a delivery is due."""

    def add(self, mute: MuteRecord) -> tuple[MuteRecord, bool]:
        """Keep `mute`, unless a mute of the same scope (student, rule, channel) made
        by the same person within SAME_MUTE_SECONDS still holds (a repeated click):
        then that one. True when `mute` was added. One transaction."""
        ...

    def get(self, mute_id: str) -> MuteRecord | None: ...

    def lift(self, mute_id: str, *, now: float, by: str) -> tuple[MuteRecord | None, bool]:
        """End a mute now; True when this call ended it (it held until now)."""
        ...

    def active(self, now: float) -> list[MuteRecord]:
        """The mutes holding at `now`, read from the database each time (on
        PostgreSQL every replica sees a mute as soon as it is written)."""
        ...

    def listed(self, now: float, ended_since: float) -> list[MuteRecord]:
        """The mutes holding now and those that ended since `ended_since`, newest
        first."""
        ...

    def changed_since(self, since: float, now: float) -> list[MuteRecord]:
        """Mutes made, or ended (lifted or run out), at or after `since`."""
        ...

    def hold(self, held: dict[str, str], now: float) -> None:
        """Set outbox rows (id -> the mute holding it) aside as `muted`: never sent by
        themselves, also not once the mute ends."""
        ...

    def release(self, ids: list[str], now: float) -> int:
        """Queue muted rows to be sent now, whatever mutes hold then (a person asked for
        them: `notifier replay ID`). Returns how many."""
        ...

    def replayed(self, ids: list[str]) -> set[str]:
        """Those of `ids` a person released from a mute (the mute stage lets them by)."""
        ...

    def prune(self, before: float) -> int:
        """Forget mutes that ended before `before`, and the deliveries held as muted
        since then that no one replayed (as dead ones are). Returns how many rows."""
        ...


class FollowUpStore(Protocol):
    """`store.follow_ups`: who followed up which delivery; the first one wins."""

    def claim(self, follow_up: FollowUpRecord) -> tuple[FollowUpRecord, bool]:
        """Record `follow_up` unless the delivery has one: the one kept, and True when
        this call made it (a unique key, so two replicas cannot both win)."""
        ...

    def get(self, delivery: str) -> FollowUpRecord | None: ...

    def since(self, since: float) -> list[FollowUpRecord]: ...

    def delivery(self, delivery_id: str) -> DeliveryRecord | None:
        """The outbox row `delivery_id`, or None."""
        ...

    def message_rows(self, message_ref: str) -> list[DeliveryRecord]:
        """Every row that went out in one message (a group's members share its ref)."""
        ...

    def name_message(self, message: str, ids: list[str]) -> None:
        """Keep which rows a group message (its id: `to_notification`'s) carried."""
        ...

    def message_of(self, delivery_id: str) -> str | None:
        """The group message a row went out in (its id), or None: sent alone, or not yet."""
        ...

    def message_members(self, message: str) -> list[DeliveryRecord]:
        """The rows a group message carried, by the message's id ([] if none)."""
        ...

    def prune(self, before: float) -> int:
        """Forget follow-ups made before `before`, and the members of group messages
        whose rows are gone. Returns how many rows."""
        ...


class AuditLog(Protocol):
    """`store.audit`: every change a person made, from Slack, the console or the CLI."""

    def add(
        self,
        by: str,
        source: str,
        action: str,
        target: str,
        detail: str,
        *,
        at: float | None = None,
    ) -> None: ...

    def recent(self, limit: int = 100, before: datetime | None = None) -> list[AuditEntry]:
        """The newest entries first (before `before`, when given)."""
        ...


class ActionStores(Protocol):
    """The concerns of what people do, as attributes of the store (`Store` has them
    all, and the joins that need them say so in `notifier.state.store`)."""

    mutes: MuteStore
    follow_ups: FollowUpStore
    audit: AuditLog


__all__ = [
    "AUDIT_COLUMNS",
    "FOLLOW_UP_COLUMNS",
    "MUTE_COLUMNS",
    "REPLAYED",
    "SAME_MUTE_SECONDS",
    "ActionStores",
    "AuditLog",
    "AuditEntry",
    "DELIVERY_RECORD_COLUMNS",
    "DeliveryRecord",
    "FollowUpRecord",
    "FollowUpStore",
    "MuteRecord",
    "MuteStore",
    "audit_of",
    "delivery_of",
    "follow_up_of",
    "follow_up_values",
    "mute_of",
    "mute_values",
]
