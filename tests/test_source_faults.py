"""Source faults (contract section 7, "Source failures"): the sandbox answers with a
share of 5xx, slow answers, 429 storms, malformed JSON, bad records and expired tokens,
and every expected alert still arrives, once. The loop runs in-process (the real App,
client and store) where a test needs the client's timeout or token to persist across
cycles, and as the real `notifier run --once` otherwise."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from notifier.runtime.app import App
from notifier.runtime.compose import build
from notifier.runtime.config import load_rules
from notifier.sandbox import FaultConfig, Sandbox
from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver
from notifier.settings import Settings
from notifier.state import SqliteStore
from notifier.testpress.client import TestpressClient
from tests.e2e import Harness, fail_attempts
from tests.kit import RecordingChannel

RULES = """\
channels:
  lms:
    type: console

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [lms]
"""

WEBHOOK_RULES = """\
channels:
  lms:
    type: webhook
    url: ${LMS_URL}

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [lms]
"""


@dataclass
class Loop:
    """The real App on a sandbox, delivering to a recording channel."""

    app: App
    channel: RecordingChannel
    sandbox: Sandbox

    def keys(self) -> Counter[str]:
        return Counter(a.key for n in self.channel.sent for a in n.alerts)


def make_loop(tmp: Path, sandbox: Sandbox, *, timeout: float = 20.0) -> Loop:
    (tmp / "rules.yaml").write_text(RULES)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        TESTPRESS_BASE_URL=sandbox.url,
        TESTPRESS_USERNAME=sandbox.username,
        TESTPRESS_PASSWORD=sandbox.password,
        NOTIFIER_RULES=str(tmp / "rules.yaml"),
        NOTIFIER_DB=str(tmp / "notifier.db"),
    )
    client = TestpressClient(
        sandbox.url, username=sandbox.username, password=sandbox.password, timeout=timeout
    )
    channel = RecordingChannel("lms")
    app = build(
        settings,
        ruleset=load_rules(settings.rules_path, settings),
        store=SqliteStore(settings.db_path),
        client=client,
        channels={"lms": channel},
    ).app
    return Loop(app, channel, sandbox)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=11) as sb:
        yield sb


@pytest.fixture
def loop(tmp_path: Path, sandbox: Sandbox) -> Iterator[Loop]:
    lp = make_loop(tmp_path, sandbox, timeout=0.5)
    yield lp
    lp.app.close()
    lp.app.store.close()


def complete_failures(sandbox: Sandbox, n: int, users: int = 3) -> set[str]:
    return fail_attempts(sandbox.institute, n, "Biology", students=users)


def test_errors_malformed_pages_and_bad_records_lose_nothing(
    tmp_path: Path,
    sandbox: Sandbox,
    fake_slack: FakeSlack,
    webhook_receiver: WebhookReceiver,
    smtp_sink: SmtpSink,
) -> None:
    """The real command, cycle after cycle, against a sandbox that answers 30% of
    calls with 500/502/503, some with cut-off JSON and spoils a tenth of the
    records: every failed attempt alerts exactly once, and bad records are logged."""
    h = Harness(tmp_path, sandbox, fake_slack, webhook_receiver, smtp_sink, rules=WEBHOOK_RULES)
    assert h.notifier("run", "--once").returncode == 0  # baseline, no faults yet
    expected = complete_failures(sandbox, 60)
    sandbox.faults = FaultConfig(error_rate=0.3, malformed_rate=0.15, bad_record_rate=0.1, seed=3)
    stderr = ""
    for cycle in range(12):
        out = h.notifier("run", "--once")
        assert out.returncode in (0, 1), out.stderr  # 1: a source gave up this cycle
        assert "Traceback" not in out.stderr
        stderr += out.stderr
        keys = Counter(a["key"] for r in webhook_receiver.received for a in r.json["alerts"])
        if set(keys) == expected and cycle >= 3:
            break
    statuses = Counter(status for _, _, status, _ in sandbox.request_log)
    print(f"\nsandbox answers: {dict(statuses)}")
    assert set(keys) == expected and max(keys.values()) == 1
    assert statuses[500] + statuses[502] + statuses[503] > 0  # the faults did happen ...
    assert "skipped malformed" in stderr  # ... bad records were logged and skipped
    assert "not JSON" in stderr  # ... and cut-off bodies retried


def test_answers_slower_than_the_client_timeout_are_retried(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.app.cycle()  # baseline
    expected = complete_failures(loop.sandbox, 10)
    loop.sandbox.faults = FaultConfig(slow_rate=0.3, slow_seconds=1.5, seed=2)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            loop.app.cycle()
            if set(loop.keys()) == expected:
                break
    assert set(loop.keys()) == expected and max(loop.keys().values()) == 1
    assert "timed out" in caplog.text


def test_a_429_storm_is_waited_out_as_retry_after_says(loop: Loop) -> None:
    loop.app.cycle()  # baseline
    expected = complete_failures(loop.sandbox, 5, users=2)
    loop.sandbox.reset_counts()
    loop.sandbox.faults = FaultConfig(rate_limit_every=2, rate_limit_retry_after=1)
    result = loop.app.cycle()
    assert result.sources_ok
    assert set(loop.keys()) == expected

    log = loop.sandbox.request_log
    throttled = [i for i, (_, _, status, _) in enumerate(log) if status == 429]
    assert throttled
    # The same call again (same path) after each 429: how long the client waited.
    waits = [
        next(at for at, _, _, path in log[i + 1 :] if path == log[i][3]) - log[i][0]
        for i in throttled
    ]
    per_second = Counter(int(at - log[0][0]) for at, _, _, _ in log)
    print(
        f"\n429 storm: {len(log)} requests, {len(throttled)} answered 429 (Retry-After: 1); "
        f"requests per second {[per_second[s] for s in range(max(per_second) + 1)]}; "
        f"shortest wait after a 429 {min(waits):.2f} s"
    )
    assert min(waits) >= 0.95  # the client waited as told, every time
    assert max(per_second.values()) <= 6


def test_an_expired_token_costs_exactly_one_new_login(loop: Loop) -> None:
    loop.app.cycle()  # baseline (logs in once)
    expected = complete_failures(loop.sandbox, 3)
    loop.sandbox.reset_counts()
    loop.sandbox.expire_tokens()
    assert loop.app.cycle().sources_ok
    assert loop.sandbox.request_counts.get("auth") == 1
    statuses = [status for _, name, status, _ in loop.sandbox.request_log if name != "auth"]
    assert statuses.count(401) == 1  # one refused call, then the new token works
    assert set(loop.keys()) == expected

    loop.sandbox.reset_counts()
    loop.app.cycle()
    assert loop.sandbox.request_counts.get("auth") is None  # the new token is kept
