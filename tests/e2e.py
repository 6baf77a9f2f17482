"""Helpers for end-to-end tests: run the real `notifier` command against the sandbox
institute and the loopback stand-ins."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.sandbox.standins import free_port
from notifier.sandbox.webhooks import PRIVATE_KEY, PUBLIC_KEY

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


def clean_env() -> dict[str, str]:
    """This process's environment without any setting the notifier or a rules file
    reads: what a test gives a `notifier` process decides alone."""
    prefixes = ("TESTPRESS_", "SLACK_", "SMTP_", "NOTIFIER_", "LMS_", "OFFICE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


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
        self.write_rules(self.rules)

    def write_rules(self, rules: str) -> None:
        """Make `rules` the rules file (a test may change it between runs)."""
        self.rules = rules
        (self.tmp / "rules.yaml").write_text(rules)

    @property
    def channels(self) -> str:
        """The rules file's `channels:` part, for a test that writes rules under it."""
        return self.rules.split("rules:\n")[0]

    @property
    def db(self) -> Path:
        return self.tmp / "notifier.db"

    def env(self) -> dict[str, str]:
        env = clean_env()
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
        """Run `notifier ARGS` to its end, as an admin types it."""
        return subprocess.run(
            [sys.executable, "-m", "notifier", *args],
            cwd=self.tmp,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str, log: Path | None = None) -> subprocess.Popen[str]:
        """Start `notifier run` (or `notifier ARGS`) and leave it running: the test stops
        it. Its output goes to pipes the test reads at the end, or, with `log`, both
        streams to that file (a long run's output would fill a pipe and block it)."""
        command = [sys.executable, "-m", "notifier", *(args or ("run",))]
        if log is None:
            return subprocess.Popen(
                command,
                cwd=self.tmp,
                env=self.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        with log.open("ab") as out:
            return subprocess.Popen(command, cwd=self.tmp, env=self.env(), stdout=out, stderr=out)

    def logs(self) -> str:
        """The end of every `*.log` in the working directory (where `start(log=...)`
        writes): what a failure's message shows."""
        return "\n".join(p.read_text()[-2000:] for p in sorted(self.tmp.glob("*.log")))

    def push_on(self, **env: str) -> int:
        """Let `notifier run` take Testpress's signed webhooks on a free loopback port
        (returned), polling only hourly: an alert that arrives came by push. `env` adds
        to (or overrides) that environment."""
        port = free_port()
        self.extra_env.update(
            {
                "NOTIFIER_HTTP_ADDR": f"127.0.0.1:{port}",
                "NOTIFIER_POLL_INTERVAL": "3600",
                "TESTPRESS_WEBHOOK_PUBLIC_KEY": PUBLIC_KEY,
                "TESTPRESS_WEBHOOK_PRIVATE_KEY": PRIVATE_KEY,
                **env,
            }
        )
        return port

    def status(self, *, starting: bool = False) -> dict[str, Any]:
        """`status --json`; `starting`: a service may not have created the store yet."""
        out = self.notifier("status", "--json")
        if starting and out.returncode == 1 and "no state store" in out.stderr:
            return {"sources": {}}
        assert out.returncode == 0, out.stderr
        return dict(json.loads(out.stdout))


def fail_attempts(institute: Any, n: int, label: str, students: int = 1) -> set[str]:
    """`n` failed attempts at a new exam ("Exam <label>") completing now, taken in turn
    by `students` new students; returns their event keys (the attempt ids)."""
    exam = institute.add_exam(title=f"Exam {label}")
    users = [
        institute.add_user(name=f"{label} {i}", email=f"{label}{i}@s.example")
        for i in range(students)
    ]
    keys = set()
    for i in range(n):
        attempt = institute.start_attempt(exam, users[i % students])
        institute.complete_attempt(attempt, result="Fail", score=1.0)
        keys.add(str(attempt))
    return keys


def complete_now(institute: Any, exam: int, name: str, result: str) -> None:
    """A new student `name` completes `exam` now with `result`, started 30 minutes ago."""
    user = institute.add_user(name=name, email=f"{name.lower()}@school.example")
    now = datetime.now(UTC)
    attempt = institute.start_attempt(exam, user, started_at=now - timedelta(minutes=30))
    institute.complete_attempt(attempt, result=result, completed_at=now)


def ok(h: Harness, *args: str) -> str:
    """Run `notifier ARGS`, which must succeed (its stderr shown when not); its stdout."""
    done = h.notifier(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def sqlite_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows `sql` reads from the SQLite store `db`, opened read-only so that reading
    it while a notifier runs changes nothing (a missing store is `sqlite3.Error`)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


@contextmanager
def open_harness(
    tmp: Path,
    seed: int,
    *,
    rules: str = RULES,
    signed: bool = True,
    delay: float = 0.0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Harness]:
    """A Harness over a fresh sandbox (with `seed`) and fresh stand-ins, all stopped at
    the end. The webhook receiver checks signatures (`signed`) and answers each request
    after `delay` seconds (a slow receiver gives a test time to act mid-send)."""
    from notifier.sandbox import Sandbox
    from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver

    with (
        Sandbox(seed=seed) as sandbox,
        FakeSlack() as slack,
        WebhookReceiver(secret=WEBHOOK_SECRET if signed else None, delay=delay) as webhook,
        SmtpSink() as smtp,
    ):
        yield Harness(tmp, sandbox, slack, webhook, smtp, rules, dict(extra_env or {}))
