"""Slack: `chat.postMessage` through slack_sdk's WebClient at SLACK_API_URL, or an
incoming webhook."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["slack"]
    channel: str | None = None
    webhook_url: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> SlackConfig:
        if bool(self.channel) == bool(self.webhook_url):
            raise ValueError("give exactly one of 'channel' or 'webhook_url'")
        if self.webhook_url and not self.webhook_url.startswith(("https://", "http://")):
            raise ValueError("webhook_url must be an http(s) URL")
        return self

    def missing_settings(self, settings) -> list[str]:  # type: ignore[no-untyped-def]
        if self.channel and settings.slack_bot_token is None:
            return ["SLACK_BOT_TOKEN"]
        return []
