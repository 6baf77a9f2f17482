"""The stages a due message passes through on its way out, each with one job and one
method (after Alertmanager's `notify` stages): mute, render, send. Recording the
outcome is the last stage (`notifier.delivery.record`); the chain that runs them in
order is composed in one place (`notifier.delivery.chain`).

Grouping, digests, quiet hours and throttling decide *when* a row is due and *which*
rows go out together; they are the planning stages (`notifier.rules.policy.PLAN_STAGES`),
run as the row is written so its send time is kept on the row and survives a restart;
what reaches these stages is a unit: one row, or every due row of one group.

A stage takes a Job and gives it back; a stage that decides the outcome itself (a
mute, the send) sets `job.outcome`, and the chain then goes straight to recording.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from notifier.channels.base import (
    Alert,
    Channel,
    Message,
    Notification,
    Outcome,
    SlackMessage,
    SomeChannel,
)
from notifier.channels.slack_buttons import with_buttons
from notifier.delivery.render import render_message
from notifier.events import JSONObject, Reason
from notifier.rules.templates import TemplateTable
from notifier.state import DeliveryStore, OutboxRow, is_outage
from notifier.state.actions_base import MuteRecord

Unit = tuple[OutboxRow, ...]  # the rows one message carries: one, or a whole group


@dataclass
class PassResult:
    """What one delivery pass did, in rows."""

    sent: int = 0
    muted: int = 0
    retrying: int = 0
    dead: int = 0
    released: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)


@dataclass
class Job:
    """One message on its way: the rows it carries, the channel it goes to, the store
    connection and tally of the worker carrying it, and what the stages have made of it
    so far (the notification, the rendered message, the outcome)."""

    rows: Unit
    channel: SomeChannel | None  # None: the rules name no such channel (any longer)
    store: DeliveryStore
    tally: PassResult
    notification: Notification | None = None
    message: Message | None = None
    outcome: Outcome | None = None
    muted: dict[str, str] = field(default_factory=dict)  # row id -> the mute holding it
    # The mutes in force as read after the worker's previous send completed (by the
    # leader of the group commit that recorded it), for this message's mute stage; None:
    # the stage reads them. `next_mutes`: the same, once this message is recorded.
    mutes: Sequence[MuteRecord] | None = None
    next_mutes: Sequence[MuteRecord] | None = None

    def about(self) -> Notification:
        if self.notification is None:
            raise RuntimeError("the chain has not made a notification yet")
        return self.notification


class Stage(Protocol):
    """One step of the chain. Raising is a fault of this message (retried, then set
    aside: contract section 7), never of the pass."""

    def __call__(self, job: Job) -> Job: ...


# --- group: due rows into messages ----------------------------------------------------


def into_units(rows: list[OutboxRow]) -> list[Unit]:
    """Rows without a group go alone; rows of one (rule, channel, group) go together."""
    units: dict[tuple[str, str, str], list[OutboxRow]] = {}
    for row in rows:
        key = (row.rule, row.channel, row.group_key or f"\0{row.id}")
        units.setdefault(key, []).append(row)
    return [tuple(members) for members in units.values()]


def alert_of(raw: JSONObject) -> Alert:
    """One alert of an outbox row, as the store keeps it (JSON the planner wrote), made
    an Alert here, where it is read back."""
    data = raw.get("data", {})
    reasons = raw.get("reasons", [])
    return Alert(
        event=str(raw["event"]),
        key=str(raw["key"]),
        data=dict(data) if isinstance(data, Mapping) else {},
        reasons=tuple(
            Reason.from_dict(r)
            for r in (reasons if isinstance(reasons, list) else [])
            if isinstance(r, Mapping)
        ),
    )


def to_notification(unit: Unit | OutboxRow) -> Notification:
    """The message for one row, or for a group of rows of one rule and channel (their
    alerts in order, under an id derived from the members, stable across retries)."""
    rows = unit if isinstance(unit, tuple) else (unit,)
    alerts = tuple(alert_of(a) for row in rows for a in row.alerts)
    first = rows[0]
    if len(rows) == 1:
        id_ = first.id
    else:
        members = "\0".join(sorted(row.id for row in rows))
        id_ = "msg_" + hashlib.sha256(members.encode()).hexdigest()[:28]
    return Notification(
        id=id_,
        rule=first.rule,
        channel=first.channel,
        alerts=alerts,
        attempt=first.attempts + 1,
        group=first.group_key,
    )


@dataclass(frozen=True)
class NotifyStage:
    """The first stage: the notification the unit's rows make."""

    def __call__(self, job: Job) -> Job:
        if job.channel is None:
            job.outcome = Outcome.final(f"channel {job.rows[0].channel!r} is not configured")
            return job
        job.notification = to_notification(job.rows)
        return job


# --- mute -----------------------------------------------------------------------------


# The outcome of a unit whose every row a mute holds: nothing is sent, the record stage
# keeps the rows as `muted`.
MUTED = Outcome.final("muted")


class Mutes(Protocol):
    """Who decides which rows of a due unit are held, not sent (the mutes themselves
    are `notifier.actions.mutes.StoreMutes`, read on the worker's own store handle)."""

    def read(self, store: DeliveryStore) -> Sequence[MuteRecord]:
        """The mutes in force now (what `held` is given back)."""
        ...

    def held(
        self, rows: Unit, store: DeliveryStore, read: Sequence[MuteRecord] | None = None
    ) -> dict[str, str]:
        """Row id -> the id of the mute holding it; {} lets every row through. `read`:
        the mutes read since the previous send completed (None: read them now)."""
        ...


class NoMutes:
    """Nothing is muted."""

    def read(self, store: DeliveryStore) -> Sequence[MuteRecord]:
        return ()

    def held(
        self, rows: Unit, store: DeliveryStore, read: Sequence[MuteRecord] | None = None
    ) -> dict[str, str]:
        return {}


# Reads of the mutes tried this often while the store says it is out: a PostgreSQL
# restart breaks each worker's connection (the next call connects again), SQLite may
# be locked a moment. An outage that lasts is raised to the pass (never a fault).
MUTE_READ_TRIES = 3
MUTE_READ_FIRST_WAIT = 0.05  # seconds, doubling


@dataclass(frozen=True)
class MuteStage:
    """Rows a mute holds are kept as `muted` (by the record stage); the rest of the
    unit goes on as a message of its own (a group without its muted members)."""

    mutes: Mutes

    def _held(self, job: Job) -> dict[str, str]:
        """The mutes' decision, asked again while the store is briefly out: the first
        stage that reads the store must not make a blip a fault of the message."""
        wait = MUTE_READ_FIRST_WAIT
        for tries_left in range(MUTE_READ_TRIES - 1, -1, -1):
            try:
                return self.mutes.held(job.rows, job.store, job.mutes)
            except Exception as exc:
                if not is_outage(exc) or not tries_left:
                    raise
            time.sleep(wait)
            wait *= 2
        raise AssertionError("unreachable")

    def __call__(self, job: Job) -> Job:
        held = self._held(job)
        if not held:
            return job
        job.muted = held
        rest = tuple(row for row in job.rows if row.id not in held)
        if not rest:
            job.outcome = MUTED
            return job
        job.rows = rest
        job.notification = to_notification(rest)
        return job


# --- render ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderStage:
    """The message in the format the channel takes, with the rule's templates from this
    rule set's table (passed in: never a global)."""

    templates: TemplateTable
    console_url: str | None = None  # NOTIFIER_CONSOLE_URL: messages link their alert's page
    # Slack alerts carry the action buttons (a way in for clicks is set up, contract
    # section 13), naming the message's delivery id (a group's: the id it goes out
    # with, which the actions service reads the whole message from).
    slack_buttons: bool = False

    def __call__(self, job: Job) -> Job:
        n = job.about()
        if job.channel is None:
            raise RuntimeError("no channel to render for")
        template = self.templates.get(n.rule)
        message = render_message(job.channel.message_type, n, template, self.console_url)
        if self.slack_buttons and isinstance(message, SlackMessage):
            message = with_buttons(message, n.id)
        job.message = message
        return job


# --- send -----------------------------------------------------------------------------


class SendStage:
    """The channel sends the rendered message and says how it went."""

    def __call__(self, job: Job) -> Job:
        if job.message is None or job.channel is None:
            raise RuntimeError("nothing rendered to send")  # a chain composed wrongly
        # rendered for the channel's own message_type, so it is one the channel takes
        job.outcome = cast(Channel[Message], job.channel).send(job.message)
        return job


__all__ = [
    "MUTED",
    "Job",
    "MuteStage",
    "Mutes",
    "NoMutes",
    "NotifyStage",
    "PassResult",
    "RenderStage",
    "SendStage",
    "Stage",
    "Unit",
    "into_units",
    "to_notification",
]
