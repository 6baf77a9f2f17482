"""Slack's `block_actions` payload (a button click or a menu choice on an alert) read
into a typed `Click`, or refused with a reason that says what is wrong and where.

The payload arrives from Socket Mode's `interactive` envelope or the Request URL's
`payload` form field; both end here. Only what the handler needs is read, everything
else Slack sends is ignored (Slack adds fields), but what is read is checked: the
user id is a Slack id (it is put into mrkdwn as `<@U...>`, so nothing else may pass),
the action is one of ours, the value is a delivery id (and a duration we offer).
A refusal never quotes the payload: it holds a `response_url`, which is a credential
for the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from notifier.channels.slack_buttons import (
    ACTION_IDS,
    RULE_DURATIONS,
    SEPARATOR,
    STUDENT_DURATIONS,
    ActionKind,
)

USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")
CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{1,30}")
TS = re.compile(r"\d{1,12}\.\d{1,9}")
DELIVERY_ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


class PayloadRefused(ValueError):
    """A payload the handler will not act on; the message says why, never what."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _User(_Loose):
    id: str
    username: str | None = None
    name: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not USER_ID.fullmatch(value):
            raise ValueError("not a Slack user id")
        return value


class _Container(_Loose):
    type: str
    message_ts: str | None = None
    channel_id: str | None = None


class _Channel(_Loose):
    id: str


class _Message(_Loose):
    ts: str | None = None
    text: str | None = None
    blocks: list[dict[str, Any]] = Field(default_factory=list)


class _Option(_Loose):
    value: str


class _Action(_Loose):
    action_id: str
    type: str
    value: str | None = None
    selected_option: _Option | None = None
    action_ts: str | None = None


class BlockActions(_Loose):
    """The part of Slack's `block_actions` payload the handler reads."""

    type: str
    user: _User
    container: _Container | None = None
    channel: _Channel | None = None
    message: _Message | None = None
    actions: list[_Action] = Field(min_length=1, max_length=25)


@dataclass(frozen=True)
class Click:
    """One click on one of our buttons (or a choice in one of our menus)."""

    kind: ActionKind
    delivery: str
    duration: timedelta | None  # for the mutes
    duration_text: str | None  # "7d"
    user: str  # the Slack user id
    user_name: str
    channel: str | None  # the Slack channel id the message is in
    message_ts: str | None
    message_text: str | None
    message_blocks: tuple[dict[str, Any], ...] | None  # None: the payload had no message
    action_ts: str | None

    @property
    def is_mute(self) -> bool:
        return self.kind != "follow_up"


def _where(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "payload"


def parse_click(raw: object) -> Click:
    """The Click in a `block_actions` payload (a dict, or its JSON text); PayloadRefused
    when it is not one of ours or is malformed."""
    if not isinstance(raw, dict):
        raise PayloadRefused("the payload is not a JSON object")
    if raw.get("type") != "block_actions":
        raise PayloadRefused(f"not a block_actions payload (type {str(raw.get('type'))[:40]!r})")
    try:
        payload = BlockActions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        raise PayloadRefused(f"{_where(first)}: {first['msg']}") from None
    action = payload.actions[0]
    kind = ACTION_IDS.get(action.action_id)
    if kind is None:
        raise PayloadRefused(f"actions.0.action_id: not one of ours ({action.action_id[:60]!r})")
    value = action.selected_option.value if action.selected_option else action.value
    if not value:
        raise PayloadRefused("actions.0: no value")
    delivery, _, duration = value.partition(SEPARATOR)
    if not DELIVERY_ID.fullmatch(delivery):
        raise PayloadRefused("actions.0.value: not a delivery id")
    offered = {"mute_student": STUDENT_DURATIONS, "mute_rule": RULE_DURATIONS}.get(kind, ())
    if (duration or None) is not None and duration not in offered:
        raise PayloadRefused(f"actions.0.value: {duration[:20]!r} is not a duration offered")
    if offered and not duration:
        raise PayloadRefused("actions.0.value: a mute needs a duration")
    channel, ts = _where_message(payload)
    message = payload.message
    return Click(
        kind=kind,
        delivery=delivery,
        duration=timedelta(days=int(duration[:-1])) if duration else None,
        duration_text=duration or None,
        user=payload.user.id,
        user_name=(payload.user.name or payload.user.username or payload.user.id)[:80],
        channel=channel,
        message_ts=ts,
        message_text=message.text if message else None,
        message_blocks=tuple(message.blocks) if message else None,
        action_ts=action.action_ts,
    )


def _where_message(payload: BlockActions) -> tuple[str | None, str | None]:
    """The message's channel id and ts, from the container (or the channel and the
    message): None where Slack did not say, or said something that is not an id."""
    container = payload.container
    channel = container.channel_id if container else None
    channel = channel or (payload.channel.id if payload.channel else None)
    ts = container.message_ts if container else None
    ts = ts or (payload.message.ts if payload.message else None)
    channel = channel if channel and CHANNEL_ID.fullmatch(channel) else None
    ts = ts if ts and TS.fullmatch(ts) else None
    return channel, ts


__all__ = ["BlockActions", "Click", "PayloadRefused", "parse_click"]
