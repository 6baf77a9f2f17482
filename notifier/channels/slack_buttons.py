"""The Slack alert's buttons (contract section 13): their `action_id`s, the values they
carry, and the Block Kit they are drawn with, in one place shared by the render stage
(`notifier.delivery.stages`, which puts them on every alert when a way in for clicks
is set up) and the click handler (`notifier.actions.slack_clicks`, which redraws them
after a click). Kept at the channels' layer because both sides sit above it.

A value carries only the delivery id (and, for a duration choice, `<id>|7d`): nothing
a click could be trusted with beyond which message it came from. Only our own words
reach mrkdwn here; a name from Testpress is escaped by the caller before it is given.
"""

from __future__ import annotations

from typing import Literal

from notifier.channels.base import Block, SlackMessage

ActionKind = Literal["follow_up", "mute_student", "mute_rule", "unmute"]

FOLLOW_UP = "notifier.follow_up"
MUTE_STUDENT = "notifier.mute_student"
MUTE_RULE = "notifier.mute_rule"
UNMUTE = "notifier.unmute"
ACTION_IDS: dict[str, ActionKind] = {
    FOLLOW_UP: "follow_up",
    MUTE_STUDENT: "mute_student",
    MUTE_RULE: "mute_rule",
    UNMUTE: "unmute",
}

# Our blocks are named so a redraw finds them among the alert's own.
BLOCK_PREFIX = "notifier."
ACTIONS_BLOCK = "notifier.actions"
STATUS_BLOCK = "notifier.status"
BLOCKS_RESERVED = 2  # the status line and the buttons: room the renderer leaves

# The duration choices, as the rules file writes durations.
STUDENT_DURATIONS = ("1d", "7d", "30d")
RULE_DURATIONS = ("1d", "7d")
MAX_VALUE = 2000  # Slack's limit on a button's or an option's value
SEPARATOR = "|"


def _words(duration: str) -> str:
    days = int(duration.removesuffix("d"))
    return f"{days} day" + ("" if days == 1 else "s")


def value_of(delivery_id: str, duration: str | None = None) -> str:
    """The value a button or option carries; ValueError past Slack's 2,000 characters
    (a delivery id is a few dozen)."""
    if SEPARATOR in delivery_id:
        raise ValueError("a delivery id cannot hold '|'")
    value = delivery_id if duration is None else f"{delivery_id}{SEPARATOR}{duration}"
    if len(value) > MAX_VALUE:
        raise ValueError(f"a button value is at most {MAX_VALUE} characters")
    return value


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": False}


def _button(action_id: str, text: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(text),
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _select(
    action_id: str, placeholder: str, delivery_id: str, durations: tuple[str, ...]
) -> Block:
    return {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": _plain(placeholder),
        "options": [
            {"text": _plain(_words(d)), "value": value_of(delivery_id, d)} for d in durations
        ],
    }


def actions_block(
    delivery_id: str, *, follow_up: bool = True, mute: bool = True, unmute: bool = False
) -> Block:
    """The buttons of one message: *Follow up* (until someone has), the two mute
    choices (while nothing mutes it), *Unmute* (while something does)."""
    elements: list[Block] = []
    if follow_up:
        elements.append(_button(FOLLOW_UP, "Follow up", value_of(delivery_id), "primary"))
    if mute:
        elements.append(_select(MUTE_STUDENT, "Mute student", delivery_id, STUDENT_DURATIONS))
        elements.append(_select(MUTE_RULE, "Mute rule", delivery_id, RULE_DURATIONS))
    if unmute:
        elements.append(_button(UNMUTE, "Unmute", value_of(delivery_id)))
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


MAX_BLOCKS = 50  # Block Kit's limit on a message's blocks


def with_buttons(message: SlackMessage, delivery_id: str) -> SlackMessage:
    """The rendered alert with its buttons under it (`delivery_id`: the message's
    delivery id, a group's as it goes out). Room is kept for the status line a click adds: a
    message past it loses its last alerts to a line saying more are not shown."""
    blocks = list(message.blocks)
    room = MAX_BLOCKS - BLOCKS_RESERVED
    if len(blocks) > room:
        more: Block = {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "_and more alerts not shown here_"}],
        }
        blocks = blocks[: room - 1] + [more]
    blocks.append(actions_block(delivery_id))
    return SlackMessage(message.id, message.text, blocks)


def status_block(lines: list[str]) -> Block:
    """What people did to the message, one mrkdwn line each (at most 10: Block Kit's
    limit on a context block's elements). The lines are ours, names escaped already."""
    return {
        "type": "context",
        "block_id": STATUS_BLOCK,
        "elements": [{"type": "mrkdwn", "text": line[:3000]} for line in lines[:10]],
    }


def without_ours(blocks: list[Block]) -> list[Block]:
    """The alert's own blocks: every block but our buttons and status line."""
    return [b for b in blocks if not str(b.get("block_id", "")).startswith(BLOCK_PREFIX)]


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters escaped, so a name is text, never a mention or
    a link (and `*_~` lose their meaning next to a zero-width joiner)."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for mark in "*_~`":
        out = out.replace(mark, mark + "\u200d")
    return out


__all__ = [
    "ACTIONS_BLOCK",
    "ACTION_IDS",
    "BLOCKS_RESERVED",
    "FOLLOW_UP",
    "MUTE_RULE",
    "MUTE_STUDENT",
    "STATUS_BLOCK",
    "UNMUTE",
    "ActionKind",
    "actions_block",
    "mrkdwn_escape",
    "status_block",
    "value_of",
    "with_buttons",
    "without_ours",
]
