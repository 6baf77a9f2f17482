"""The channel registry: one explicit table from a rules-file `type` to its settings
model and its sender class (after Alertmanager's receiver table; no discovery by name,
no "module:function" strings). Each channel's module holds both, side by side.

Importing a channel module is cheap: slack_sdk and httpx are imported when a channel is
first used, so `notifier check` never loads them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from notifier.channels.base import SendContext, SomeChannel
from notifier.channels.console import ConsoleChannel, ConsoleConfig
from notifier.channels.console import build as build_console
from notifier.channels.email import EmailChannel, EmailConfig
from notifier.channels.email import build as build_email
from notifier.channels.slack import SlackChannel, SlackConfig
from notifier.channels.slack import build as build_slack
from notifier.channels.webhook import WebhookChannel, WebhookConfig
from notifier.channels.webhook import build as build_webhook

__all__ = ["CHANNEL_TYPES", "ChannelType"]


@dataclass(frozen=True)
class ChannelType:
    """One row of the table: the settings model a rules-file channel validates against,
    the class that sends, and how that class is made from its settings."""

    config: type[BaseModel]
    sender: type[SomeChannel]
    factory: Callable[..., SomeChannel]  # (name, its `config`, SendContext): build checks

    def build(self, name: str, config: BaseModel, ctx: SendContext) -> SomeChannel:
        if not isinstance(config, self.config):
            raise TypeError(f"channel {name!r}: expected {self.config.__name__}")
        channel = self.factory(name, config, ctx)
        assert isinstance(channel, self.sender)
        return channel


CHANNEL_TYPES: Mapping[str, ChannelType] = {
    "slack": ChannelType(SlackConfig, SlackChannel, build_slack),
    "email": ChannelType(EmailConfig, EmailChannel, build_email),
    "webhook": ChannelType(WebhookConfig, WebhookChannel, build_webhook),
    "console": ChannelType(ConsoleConfig, ConsoleChannel, build_console),
}
