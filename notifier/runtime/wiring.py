"""Building the parts `run` wires together: sources, channels, the Testpress client, and
the list of secrets the log redaction must know.

Kept apart from `app.py` so the loop reads as the loop, and so commands that need one
part (a client for `preview`, sources for the sandbox tests) need not build an App.
"""

from __future__ import annotations

import threading
import time

from notifier.channels import CHANNEL_TYPES
from notifier.channels.base import Channel, SendContext
from notifier.obs.metrics import Metrics
from notifier.rules.schema import RuleSet
from notifier.settings import Settings
from notifier.settings.dburl import password_of
from notifier.sources.base import Source
from notifier.testpress.client import TestpressClient


def make_sources() -> dict[str, Source]:
    from notifier.sources.attempts import AttemptsSource
    from notifier.sources.conferences import ConferencesSource
    from notifier.sources.content import ContentAttemptsSource
    from notifier.sources.inactivity import InactivitySource

    return {
        "attempts": AttemptsSource(),
        "content_attempts": ContentAttemptsSource(),
        "conferences": ConferencesSource(),
        "inactivity": InactivitySource(),  # last: it reads what the others recorded
    }


def build_channels(ruleset: RuleSet, settings: Settings) -> dict[str, Channel]:
    ctx = SendContext(settings=settings)
    return {
        name: CHANNEL_TYPES[ch.type].build(name, ch.config, ctx)
        for name, ch in ruleset.channels.items()
    }


def secrets_of(settings: Settings, ruleset: RuleSet | None = None) -> list[str | None]:
    values: list[str | None] = [
        s.get_secret_value() if s is not None else None
        for s in (
            settings.testpress_token,
            settings.testpress_password,
            settings.testpress_webhook_private_key,
            settings.slack_bot_token,
            settings.smtp_password,
        )
    ]
    values.append(password_of(settings.db))  # a PostgreSQL URL's password
    if ruleset is not None:
        for ch in ruleset.channels.values():
            secret = getattr(ch.config, "secret", None)
            if secret is not None:
                values.append(secret.get_secret_value())
                values.append(secret.get_secret_value().removeprefix("whsec_"))
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
