"""In-process harness: the real App (sources, rules, store, delivery, channels) against
the sandbox institute and a webhook receiver, with a clock the test controls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.actions.service import Actions
from notifier.obs.metrics import Metrics
from notifier.runtime.app import App, CycleResult
from notifier.runtime.compose import build
from notifier.runtime.config import load_rules
from notifier.sandbox import Sandbox
from notifier.sandbox.standins import FakeSlack, WebhookReceiver
from notifier.settings import Settings
from notifier.state import Store
from notifier.testpress.client import TestpressClient

CHANNELS = """\
channels:
  hook:
    type: webhook
    url: ${HOOK_URL}
  slack:
    type: slack
    channel: "#exam-alerts"
"""


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Rig:
    sandbox: Sandbox
    webhook: WebhookReceiver
    slack: FakeSlack
    app: App
    store: Store
    clock: Clock
    actions: Actions | None = None  # what people do to alerts (notifier.actions)
    metrics: Metrics | None = None
    console_url: str | None = None  # the console's listener, with NOTIFIER_CONSOLE_ADDR

    def cycle(self) -> CycleResult:
        return self.app.cycle()

    def alerts(self, rule: str | None = None) -> list[dict[str, Any]]:
        """Every alert the webhook receiver accepted, in order."""
        return [
            alert
            for request in self.webhook.received
            if request.status < 300 and (rule is None or request.json["rule"] == rule)
            for alert in request.json["alerts"]
        ]

    def texts(self) -> list[str]:
        return [r.json["text"] for r in self.webhook.received if r.status < 300]

    def students(self, n: int, name: str = "Student {i}") -> list[int]:
        """`n` new students of the sandbox institute, named by the pattern `name`."""
        inst = self.sandbox.institute
        return [
            inst.add_user(name=name.format(i=i), email=f"s{i}@school.example", username=f"s{i}")
            for i in range(n)
        ]


@contextmanager
def rig(
    tmp_path: Path,
    rules: str,
    *,
    history: int = 0,
    quick_failures: bool = False,
    db: str | None = None,
    **settings: Any,
) -> Iterator[Rig]:
    """The rig, on a SQLite store in `tmp_path` or on `db` (the `db` fixture gives one
    per backend)."""
    with (
        Sandbox(seed=5, history=history) as sandbox,
        WebhookReceiver() as webhook,
        FakeSlack() as slack,
    ):
        path = tmp_path / "rules.yaml"
        path.write_text(CHANNELS + rules)
        config = Settings(  # type: ignore[call-arg]
            _env_file=None,
            TESTPRESS_BASE_URL=sandbox.url,
            TESTPRESS_TOKEN=sandbox.token,
            NOTIFIER_DB=db or str(tmp_path / "notifier.db"),
            NOTIFIER_RETRY_INITIAL_SECONDS="0.1",
            SLACK_BOT_TOKEN="xoxb-rig",
            SLACK_API_URL=slack.url,
            **settings,
        )
        ruleset = load_rules(path, config, env={"HOOK_URL": webhook.url})
        clock = Clock()
        metrics = Metrics()
        client = None
        if quick_failures:  # a failing Testpress fails the poll at once, without waiting
            client = TestpressClient(
                sandbox.url,
                token=sandbox.token,
                max_attempts=2,
                sleep=lambda seconds: None,
                on_request=metrics.testpress_request,
            )
        with build(config, ruleset=ruleset, client=client, clock=clock, metrics=metrics) as parts:
            yield Rig(
                sandbox,
                webhook,
                slack,
                parts.app,
                parts.store,
                clock,
                parts.actions,
                metrics,
                parts.console.url if parts.console else None,
            )
