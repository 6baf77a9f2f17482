"""The channel registry: one explicit table from a rules-file `type` to its config model
and its builder (after Alertmanager's receiver table; no discovery by name)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from notifier.channels.console import ConsoleConfig
from notifier.channels.email import EmailConfig
from notifier.channels.slack import SlackConfig
from notifier.channels.webhook import WebhookConfig


@dataclass(frozen=True)
class ChannelType:
    config: type[BaseModel]
    # "module:function" building a Channel from (name, config, SendContext); imported
    # only when a channel is built, so `notifier check` never loads slack_sdk.
    builder: str

    def build(self, name: str, config: BaseModel, ctx: Any) -> Any:
        import importlib

        module, func = self.builder.split(":")
        factory: Callable[..., Any] = getattr(importlib.import_module(module), func)
        return factory(name, config, ctx)


CHANNEL_TYPES: dict[str, ChannelType] = {
    "slack": ChannelType(SlackConfig, "notifier.channels.slack:build"),
    "email": ChannelType(EmailConfig, "notifier.channels.email:build"),
    "webhook": ChannelType(WebhookConfig, "notifier.channels.webhook:build"),
    "console": ChannelType(ConsoleConfig, "notifier.channels.console:build"),
}
