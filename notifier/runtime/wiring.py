"""Building the parts the composition root (`compose.py`) puts together: channels from
the channel table, the Testpress client, and the list of secrets the log redaction
must know.

Kept apart from `compose.py` so commands that need one part (a client for `preview`)
need not build an App, and apart from `app.py` so the loop reads as the loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from notifier.channels import CHANNEL_TYPES, ChannelType
from notifier.channels.base import Channel, SendContext
from notifier.obs.metrics import Metrics
from notifier.rules.schema import RuleSet
from notifier.runtime.config import load_rules, load_rules_text
from notifier.settings import Settings
from notifier.settings.dburl import url_secrets
from notifier.testpress.client import TestpressClient

ChannelTable = Mapping[str, ChannelType]


def build_channels(
    ruleset: RuleSet, settings: Settings, table: ChannelTable = CHANNEL_TYPES
) -> dict[str, Channel[Any]]:
    """One sender per channel the rules file names, built by its type's row of `table`."""
    ctx = SendContext(settings=settings)
    return {
        name: table[ch.type].build(name, ch.config, ctx) for name, ch in ruleset.channels.items()
    }


@dataclass(frozen=True)
class RulesWiring:
    """What a rules file turns into, with one channel table: the loaded rules, their
    channels and their secrets. The app uses it at start and at every hot reload, so a
    reloaded file is read and built exactly as the first one was."""

    settings: Settings
    table: ChannelTable = field(default_factory=lambda: CHANNEL_TYPES)

    def load(self, path: Path | str) -> RuleSet:
        return load_rules(path, self.settings, channel_types=self.table)

    def load_text(self, text: str, shown: str) -> RuleSet:
        """A version kept in the store, read and built as the file would be."""
        return load_rules_text(text, shown, self.settings, channel_types=self.table)

    def channels(self, ruleset: RuleSet) -> dict[str, Channel[Any]]:
        return build_channels(ruleset, self.settings, self.table)

    def secrets(self, ruleset: RuleSet) -> list[str | None]:
        return secrets_of(self.settings, ruleset)


def secrets_of(settings: Settings, ruleset: RuleSet | None = None) -> list[str | None]:
    values: list[str | None] = [
        s.get_secret_value() if s is not None else None
        for s in (
            settings.testpress_token,
            settings.testpress_password,
            settings.testpress_webhook_private_key,
            settings.slack_bot_token,
            settings.slack_app_token,
            settings.slack_signing_secret,
            settings.smtp_password,
        )
    ]
    values += url_secrets(settings.db)  # a PostgreSQL URL's password and secret parameters
    if ruleset is not None:
        for ch in ruleset.channels.values():
            secret = getattr(ch.config, "secret", None)
            if secret is not None:
                values.append(secret.get_secret_value())
                values.append(secret.get_secret_value().removeprefix("whsec_"))
            hook = getattr(ch.config, "webhook_url", None)  # a Slack incoming webhook:
            if hook:  # whoever holds the URL may post, so it is a secret, path and all
                values.append(hook)
                path = urlsplit(hook).path  # as an error may quote it without the host
                if len(path) >= 16:  # never a bare "/" that would hide every slash
                    values.append(path)
    return values


def make_client(
    settings: Settings, stop: threading.Event | None = None, metrics: Metrics | None = None
) -> TestpressClient:
    """The Testpress client `run` uses. With `stop`, a retry's wait (a long Retry-After)
    ends as soon as the process is asked to stop; with `metrics`, its requests count."""
    settings.require_testpress()
    return TestpressClient(
        settings.testpress_base_url or "",
        token=settings.testpress_token,
        username=settings.testpress_username,
        password=settings.testpress_password,
        verify=settings.ssl_verify,
        sleep=stop.wait if stop is not None else time.sleep,
        on_request=metrics.testpress_request if metrics is not None else None,
    )
