"""Helpers for end-to-end tests: run the real `notifier` command against the sandbox
institute and the loopback stand-ins."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WEBHOOK_SECRET = "whsec_dGVzdC1zaWduaW5nLXNlY3JldC1mb3ItZTJlLTEyMzQ1"

#: One signed webhook channel and one rule: what the PostgreSQL and replica tests use.
WEBHOOK_RULES = """\
channels:
  lms:
    type: webhook
    url: ${LMS_URL}
    secret: ${LMS_SECRET}

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [lms]
"""

RULES = """\
channels:
  teachers:
    type: slack
    channel: "#exam-alerts"
  office:
    type: email
    to: [office@school.example, head@school.example]
  lms:
    type: webhook
    url: ${LMS_URL}
    secret: ${LMS_SECRET}
  terminal:
    type: console

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [teachers, lms, terminal, office]

  - name: low-percentile
    event: attempt.completed
    when:
      result: Pass
      percentile: {lt: 30}
    notify: [office, teachers]
"""


@dataclass
class Harness:
    """Everything one end-to-end test needs: a working directory with rules.yaml and a
    state store, and the environment pointing the notifier at the stand-ins."""

    tmp: Path
    sandbox: Any
    slack: Any
    webhook: Any
    smtp: Any
    rules: str = RULES
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.tmp / "rules.yaml").write_text(self.rules)

    @property
    def db(self) -> Path:
        return self.tmp / "notifier.db"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TESTPRESS_", "SLACK_", "SMTP_", "NOTIFIER_"))
        }
        env.update(
            {
                "TESTPRESS_BASE_URL": self.sandbox.url,
                "TESTPRESS_USERNAME": self.sandbox.username,
                "TESTPRESS_PASSWORD": self.sandbox.password,
                "SLACK_BOT_TOKEN": "xoxb-e2e-token",
                "SLACK_API_URL": self.slack.url,
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(self.smtp.port),
                "SMTP_SECURITY": "none",
                "SMTP_FROM": "notifier@school.example",
                "LMS_URL": self.webhook.url,
                "LMS_SECRET": WEBHOOK_SECRET,
                "NOTIFIER_RULES": str(self.tmp / "rules.yaml"),
                "NOTIFIER_DB": str(self.db),
                "NOTIFIER_RETRY_INITIAL_SECONDS": "0.2",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def notifier(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "notifier", *args],
            cwd=self.tmp,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@contextmanager
def open_harness(tmp: Path, seed: int) -> Iterator[Harness]:
    """A Harness over a fresh sandbox (with `seed`) and fresh stand-ins, all stopped
    at the end."""
    from notifier.sandbox import Sandbox
    from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver

    with (
        Sandbox(seed=seed) as sandbox,
        FakeSlack() as slack,
        WebhookReceiver(secret=WEBHOOK_SECRET) as webhook,
        SmtpSink() as smtp,
    ):
        yield Harness(tmp, sandbox, slack, webhook, smtp)
