"""The fake Slack's workspace (`FakeSlack.api`): the messages posted and how they read
after their updates, the `chat.update` and `chat.postEphemeral` calls, the Socket Mode
connections opened; and what it takes to play a person clicking an alert's button:
the channel id Slack gives a channel name, and the `block_actions` payload Slack sends
for a click on a message as it reads now (the same shape whichever way it is
delivered: a Socket Mode envelope or a signed POST to the Request URL)."""

from __future__ import annotations

import hashlib
import threading
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


class SlackWorkspace:
    """What the Web API methods beyond posting do, answered for FakeSlack (thread-safe).
    Posts are FakeSlack's `SlackPost`s (`channel`, `ts`, `text`, `blocks`, `user`)."""

    def __init__(self, socket_url: Any) -> None:
        self._socket_url = socket_url  # () -> a fresh ws:// URL
        self._lock = threading.Lock()
        self._messages: dict[tuple[str, str], Any] = {}
        self._updates: list[Any] = []
        self._ephemerals: list[Any] = []
        self.connections_opened = 0

    @property
    def updates(self) -> list[Any]:
        """Every `chat.update` call, answered or refused, in order."""
        with self._lock:
            return list(self._updates)

    @property
    def ephemerals(self) -> list[Any]:
        """Every `chat.postEphemeral` call, in order."""
        with self._lock:
            return list(self._ephemerals)

    def message(self, channel: str, ts: str) -> Any:
        """The message at (channel id, ts) as it reads now (None: never posted)."""
        with self._lock:
            return self._messages.get((channel, ts))

    def seen(self, method: str, post: Any) -> None:
        """A call arrived (recorded before any scripted answer is played)."""
        with self._lock:
            if method == "chat.update":
                self._updates.append(post)
            elif method == "chat.postEphemeral":
                self._ephemerals.append(post)

    def answer(self, method: str, post: Any, auth: str) -> dict[str, Any]:
        """Slack's answer to an authorised call of `method`."""
        if method == "apps.connections.open":
            if not auth.startswith("Bearer xapp-"):
                return {"ok": False, "error": "not_allowed_token_type"}
            with self._lock:
                self.connections_opened += 1
            return {"ok": True, "url": self._socket_url()}
        cid = channel_id(post.channel or "")
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": post.ts}
        with self._lock:
            key = (cid, post.ts or "")
            if method == "chat.update" and key not in self._messages:
                return {"ok": False, "error": "message_not_found"}
            self._messages[key] = post  # chat.postMessage, or its update
        return {"ok": True, "channel": cid, "ts": post.ts, "text": post.text}

    def click(
        self,
        post: Any,
        action_id: str,
        user: str = "U1",
        *,
        option: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """The `block_actions` payload Slack would send when `user` clicks the button
        `action_id` on `post`'s message as it reads now (or picks `option`, `7d`, in
        that menu)."""
        cid = channel_id(post.channel or "")
        now = self.message(cid, post.ts or "") or post
        return block_actions(now, cid, action_id, user, option=option, name=name)


__all__ = ["SlackWorkspace", "block_actions", "channel_id"]
