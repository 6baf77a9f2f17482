"""What people do to alerts (contract section 13), in one service that Slack's click
handler, the console and the command line all call: follow up (the first one wins),
mute a student or a rule (optionally on one channel) for a while, lift a mute, send a
muted or dead delivery after all.

Every call is safe to repeat (Slack may deliver one click twice): a repeat changes
nothing and says what is. A change writes one audit entry and counts in
`notifier_actions_total{action,source}`. The `alert.followed_up`, `mute.created` and
`mute.ended` events are not written here: they are read back from the follow-ups and
mutes themselves by `notifier.sources.actions` each cycle, so they reach the rules
once, through the outbox, whichever replica or command made the change.

The service may be called from any thread (the console's request threads, Slack's
Socket Mode thread): each thread gets a store handle of its own (`for_thread`), as
delivery workers do.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Literal, Protocol

from notifier.actions.models import (
    DeliveryFacts,
    FollowUp,
    Mute,
    ReplayResult,
    UnknownDelivery,
    UnknownMute,
)
from notifier.actions.students import student_ids, student_names
from notifier.obs.metrics import Metrics
from notifier.state import DeliveryLog, Outbox, iso
from notifier.state.actions_base import (
    AuditLog,
    DeliveryRecord,
    FollowUpRecord,
    FollowUpStore,
    MuteRecord,
    MuteStore,
)

Source = Literal["slack", "console", "cli"]


class ActionStore(Protocol):
    """What the service uses of the store: its action concerns, the outbox (replay),
    the delivery log (statuses), and handles."""

    outbox: Outbox
    log: DeliveryLog
    mutes: MuteStore
    follow_ups: FollowUpStore
    audit: AuditLog

    def for_thread(self) -> ActionStore: ...

    def close(self) -> None: ...


REPLAYABLE = ("dead", "muted")
LONGEST_MUTE = timedelta(days=400)  # longer is a typo, or should be a change of the rules


class Actions:
    """The one place people's actions on alerts are carried out."""

    def __init__(
        self,
        store: ActionStore,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
        per_thread: bool = True,
    ):
        """`per_thread`: every calling thread gets a handle of its own on `store`
        (closed by `close`); without it, every call uses `store` itself (a command)."""
        self._root = store
        self.metrics = metrics if metrics is not None else Metrics()
        self.clock = clock
        self._per_thread = per_thread
        self._local = threading.local()
        self._handles: list[ActionStore] = []
        self._lock = threading.Lock()
        self._listeners: list[Callable[[DeliveryRecord], None]] = []

    def on_message_change(self, listener: Callable[[DeliveryRecord], None]) -> None:
        """`listener(record)` after a follow-up or a delivery's mute made outside Slack
        (Slack redraws its own clicks), when the delivery is its message alone: the
        Slack message is redrawn to match. Called on the acting thread: it must only
        hand the work on."""
        self._listeners.append(listener)

    def _message_changed(self, delivery_id: str, source: Source) -> None:
        if source == "slack" or not self._listeners:
            return
        record, members = self._record(delivery_id)
        if [m.id for m in members] == [record.id]:
            for listener in self._listeners:
                listener(record)

    def _store(self) -> ActionStore:
        if not self._per_thread:
            return self._root
        handle: ActionStore | None = getattr(self._local, "store", None)
        if handle is None:
            handle = self._root.for_thread()
            self._local.store = handle
            with self._lock:
                self._handles.append(handle)
        return handle

    def close(self) -> None:
        with self._lock:
            handles, self._handles = self._handles, []
        for handle in handles:
            handle.close()

    def _done(self, action: str, source: Source, by: str, target: str, detail: str) -> None:
        """A change: its audit entry and its count."""
        self._store().audit.add(by, source, action, target, detail, at=self.clock())
        if action in ("follow_up", "mute", "unmute"):
            self.metrics.acted(action, source)

    # -- deliveries ----------------------------------------------------------------------

    def _record(self, delivery_id: str) -> tuple[DeliveryRecord, list[DeliveryRecord]]:
        """The delivery and the rows of the message it went out in: an outbox row id
        (its group's members share its `message_ref`), or a group message's own id."""
        store = self._store()
        record = store.follow_ups.delivery(delivery_id)
        if record is None:
            members = store.follow_ups.message_members(delivery_id)
            if not members:
                raise UnknownDelivery(delivery_id)
            first = members[0]
            alerts = [a for m in members for a in m.alerts]
            return replace(first, id=delivery_id, alerts=alerts), members
        members = store.follow_ups.message_rows(record.message_ref) if record.message_ref else []
        return record, members or [record]

    def delivery(self, delivery_id: str) -> DeliveryFacts:
        """The delivery (an outbox row id, or a group message's id as its buttons and
        webhook carry it) and the message it went out in: the students are every
        member's."""
        record, members = self._record(delivery_id)
        alerts = [a for m in members for a in m.alerts]
        kept = self._store().follow_ups.get(self._followed(record.id))
        return DeliveryFacts(
            id=record.id,
            rule=record.rule,
            channel=record.channel,
            status=record.status,
            students=student_ids(alerts),
            student_names=student_names(alerts),
            message_ref=record.message_ref,
            followed_up=None if kept is None else FollowUp.of(kept, first=False),
        )

    def _followed(self, delivery_id: str) -> str:
        """What a follow-up is kept under: the group message a row went out in (its
        Slack buttons name that id), else the delivery itself. So one follow-up holds
        for the message however it was made: a click on it, or an alert of it in the
        console."""
        return self._store().follow_ups.message_of(delivery_id) or delivery_id

    def follow_up(self, delivery_id: str, *, by: str, by_name: str, source: Source) -> FollowUp:
        """Record that `by` follows this delivery up, unless someone did first: the
        one who did, with `first` telling which."""
        facts = self.delivery(delivery_id)
        record = FollowUpRecord(
            delivery=self._followed(facts.id),
            by=by,
            by_name=by_name,
            at=self.clock(),
            source=source,
            rule=facts.rule,
            channel=facts.channel,
            student=", ".join(facts.student_names) or None,
            user_id=", ".join(facts.students) or None,
        )
        kept, first = self._store().follow_ups.claim(record)
        if first:
            self._done("follow_up", source, by, record.delivery, f"{facts.rule} -> {facts.channel}")
            self._message_changed(facts.id, source)
        return FollowUp.of(kept, first)

    # -- mutes ---------------------------------------------------------------------------

    def mute(
        self,
        *,
        student: str | None,
        rule: str | None,
        channel: str | None,
        duration: timedelta,
        by: str,
        reason: str,
        source: Source,
    ) -> Mute:
        """Mute a student, a rule or both (optionally on one channel) for `duration`.
        The same mute asked for again by the same person within a couple of minutes
        (a repeated click) is the first one."""
        student = (student or "").strip() or None
        if student is not None and "@" in student:
            student = student.lower()
        rule, channel = (rule or "").strip() or None, (channel or "").strip() or None
        if student is None and rule is None:
            raise ValueError("a mute needs a student or a rule (or both)")
        if duration <= timedelta(0) or duration > LONGEST_MUTE:
            raise ValueError(f"a mute lasts more than nothing and at most {LONGEST_MUTE.days} days")
        now = self.clock()
        record = MuteRecord(
            id="mute_" + secrets.token_hex(5),
            student=student,
            rule=rule,
            channel=channel,
            until=now + duration.total_seconds(),
            by=by,
            reason=reason.strip(),
            source=source,
            created_at=now,
        )
        kept, added = self._store().mutes.add(record)
        mute = Mute.of(kept, now)
        if added:
            self._done("mute", source, by, kept.id, f"{mute.scope()} until {iso(kept.until)}")
        return mute

    def mute_delivery(
        self,
        delivery_id: str,
        *,
        what: Literal["student", "rule"],
        duration: timedelta,
        by: str,
        reason: str,
        source: Source,
    ) -> list[Mute]:
        """Mute what a delivery is about: each of its students (on every rule), or its
        rule (on every channel). An outbox row's id (the console's alert page) names
        that row's students only, never the others of the message it went out in; a
        group message's id (its Slack buttons) names every student of the message."""
        record, _ = self._record(delivery_id)
        targets: list[tuple[str | None, str | None]] = (
            [(None, record.rule)]
            if what == "rule"
            else [(s, None) for s in student_ids(record.alerts)]
        )
        made = [
            self.mute(
                student=student,
                rule=rule,
                channel=None,
                duration=duration,
                by=by,
                reason=reason,
                source=source,
            )
            for student, rule in targets
        ]
        self._message_changed(record.id, source)
        return made

    def unmute(self, mute_id: str, *, by: str, source: Source) -> Mute:
        """Lift a mute now. Lifting one that has ended already changes nothing."""
        now = self.clock()
        kept, lifted = self._store().mutes.lift(mute_id.strip(), now=now, by=by)
        if kept is None:
            raise UnknownMute(mute_id)
        mute = Mute.of(kept, now)
        if lifted:
            self._done("unmute", source, by, kept.id, mute.scope())
        return mute

    def mutes(self, *, include_ended_days: int = 7) -> list[Mute]:
        """The mutes holding now and those that ended in the last days, newest first."""
        now = self.clock()
        since = now - include_ended_days * 86400.0
        return [Mute.of(m, now) for m in self._store().mutes.listed(now, since)]

    # -- replay --------------------------------------------------------------------------

    def replay(self, delivery_ids: list[str], *, by: str, source: Source) -> ReplayResult:
        """Queue dead or muted deliveries to be sent now (a muted one is then sent
        whatever mutes hold). Any other id is refused, with its status or `unknown`."""
        store = self._store()
        ids = list(dict.fromkeys(delivery_ids))
        statuses = store.log.delivery_statuses(ids)
        refused = {i: statuses.get(i, "unknown") for i in ids if statuses.get(i) not in REPLAYABLE}
        dead = [i for i in ids if statuses.get(i) == "dead"]
        muted = [i for i in ids if statuses.get(i) == "muted"]
        now = self.clock()
        if dead:
            store.outbox.replay(dead, now)
        if muted:
            store.mutes.release(muted, now)
        queued = tuple(dead + muted)
        for id_ in queued:
            self._done("replay", source, by, id_, f"was {statuses[id_]}")
        return ReplayResult(queued, refused, tuple(muted))


__all__ = [
    "LONGEST_MUTE",
    "REPLAYABLE",
    "Actions",
    "DeliveryFacts",
    "FollowUp",
    "Mute",
    "ReplayResult",
    "Source",
    "UnknownDelivery",
    "UnknownMute",
]
