"""Shared fixtures. The stand-ins are real protocol servers on loopback (see
notifier/sandbox/standins.py); each fixture starts one for a test and stops it afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A Slack Web API (`.url` for SLACK_API_URL) and incoming webhook (`.webhook_url`)."""
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver without a secret: answers 204 to everything not scripted."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server without AUTH on `127.0.0.1:<smtp_sink.port>`."""
    with SmtpSink() as sink:
        yield sink
