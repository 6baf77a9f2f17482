"""A channel driven as the delivery chain drives it: a Notification is rendered for the
channel's `message_type` (the render stage) and the channel is given that message. Tests
written against `send(notification)` keep their assertions and go through both."""

from __future__ import annotations

from typing import Any

from notifier.channels import CHANNEL_TYPES
from notifier.channels.base import Channel, Notification, Outcome, SendContext
from notifier.delivery.render import render_message
from notifier.rules.templates import RuleTemplates
from notifier.settings import Settings


def slack_texts(blocks: Any) -> list[tuple[str, str]]:
    """(type, text) of every text object in Block Kit `blocks`, however deep: what a
    reader of the Slack message sees."""
    if isinstance(blocks, dict):
        found = []
        if blocks.get("type") in ("plain_text", "mrkdwn") and isinstance(blocks.get("text"), str):
            found.append((blocks["type"], blocks["text"]))
        for value in blocks.values():
            found += slack_texts(value)
        return found
    if isinstance(blocks, list):
        return [pair for value in blocks for pair in slack_texts(value)]
    return []


def build_channel(
    kind: str, config: dict[str, Any], settings: Settings, name: str = "x", **extra: Any
) -> Channel[Any]:
    """A channel of type `kind` built through the registry from its rules-file `config`,
    as the delivery chain builds it (`extra`: the send context's extras)."""
    channel_type = CHANNEL_TYPES[kind]
    model = channel_type.config.model_validate({"type": kind, **config})
    return channel_type.build(name, model, SendContext(settings=settings, extra=extra))


class Rendering:
    """Wraps a channel: `send` and `request` take a Notification and render it first;
    everything else is the channel's own."""

    def __init__(self, channel: Channel[Any], templates: RuleTemplates | None = None):
        self.channel = channel
        self.templates = templates

    def render(self, notification: Notification) -> Any:
        return render_message(self.channel.message_type, notification, self.templates)

    def send(self, notification: Notification) -> Outcome:
        return self.channel.send(self.render(notification))

    def request(self, notification: Notification) -> Any:
        return self.channel.request(self.render(notification))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)
