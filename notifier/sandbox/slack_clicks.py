"""What the fake Slack needs to play a person clicking an alert's button: the channel
id Slack gives a channel name, and the `block_actions` payload Slack sends for a click
on a message as it reads now (the same shape whichever way it is delivered: a Socket
Mode envelope or a signed POST to the Request URL)."""

from __future__ import annotations

import hashlib
import time
from typing import Any


def channel_id(name: str) -> str:
    """The id the fake gives a channel named in a post (`#exam-alerts` → `C...`), as
    Slack answers `chat.postMessage` with the channel's id, not its name."""
    if name[:1] in ("C", "D", "G") and name.isalnum() and name.upper() == name:
        return name
    return "C" + hashlib.sha256(name.encode()).hexdigest()[:10].upper()


def _element(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return dict(element)
    raise LookupError(f"the message has no {action_id!r} element")


def block_actions(
    message: Any,
    channel: str,
    action_id: str,
    user: str = "U1",
    *,
    option: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The payload of `user` clicking the button `action_id` on `message` (a SlackPost:
    its `ts`, `text`, `blocks`) in `channel` (an id), or picking the option of that
    menu whose value ends with `|<option>`. LookupError when the message offers no
    such element (a test asserting a button is gone relies on it)."""
    element = _element(message.blocks or [], action_id)
    action: dict[str, Any] = {
        "type": element.get("type", "button"),
        "action_id": action_id,
        "block_id": "notifier.actions",
        "action_ts": f"{time.time():.6f}",
    }
    if option is None:
        action["value"] = element.get("value")
    else:
        [chosen] = [o for o in element["options"] if o["value"].endswith("|" + option)]
        action["selected_option"] = chosen
    handle = name or user.lower()
    return {
        "type": "block_actions",
        "user": {"id": user, "username": handle, "name": handle},
        "team": {"id": "T000", "domain": "standin"},
        "channel": {"id": channel, "name": "standin"},
        "container": {"type": "message", "message_ts": message.ts, "channel_id": channel},
        "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks or []},
        "response_url": "https://hooks.slack.invalid/actions/T000/standin",
        "trigger_id": "standin-trigger",
        "actions": [action],
    }


__all__ = ["block_actions", "channel_id"]
