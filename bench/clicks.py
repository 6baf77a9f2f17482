"""Figure k: a click on a Slack alert to its `chat.update` (issue 19, "a teacher's
follow-up and an admin's mute take effect within a second of the click").

`notifier run` (its own process, SQLite store) with SLACK_APP_TOKEN posts one alert to
the fake Slack; then clicks arrive over Socket Mode one after another, each timed from
the moment the envelope is written to the websocket to the moment the fake Slack
receives the message's `chat.update`: a follow-up, then an admin's *Mute student*
and *Unmute*, alternately, CLICKS times. Every click goes through the whole path: the
envelope acknowledged, the payload read, the actions service writing the store, the
message redrawn from the store, `chat.update` over HTTP.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import notifier_env, percentile

CLICKS = 60
ADMIN = "UADMIN1"
RULES = """\
channels:
  teachers:
    type: slack
    channel: "#exam-alerts"
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    notify: [teachers]
"""


def _wait(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench s: timed out waiting for {what}")
        time.sleep(0.002)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def measure() -> dict[str, Any]:
    from notifier.sandbox import Sandbox
    from notifier.sandbox.standins import FakeSlack, channel_id, free_port

    port = free_port()
    with (
        Sandbox(seed=3) as sandbox,
        FakeSlack() as slack,
        tempfile.TemporaryDirectory(prefix="bench-clicks-") as tmp,
    ):
        env = notifier_env(
            Path(tmp),
            sandbox.url,
            sandbox.token,
            "http://127.0.0.1:9/unused",
            RULES,
            SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_API_URL=slack.url,
            SLACK_APP_TOKEN="xapp-1-bench",
            NOTIFIER_SLACK_ADMINS=ADMIN,
            NOTIFIER_POLL_INTERVAL="0.5",
            NOTIFIER_HTTP_ADDR=f"127.0.0.1:{port}",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "run"],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(lambda: slack.socket.connected, "Socket Mode")
            _wait(lambda: _ready(port), "the first cycle (the baseline)")
            inst = sandbox.institute
            exam = inst.add_exam(title="Algebra")
            user = inst.add_user(name="Asha Verma", email="asha@school.example")
            now = datetime.now(UTC)
            attempt = inst.start_attempt(exam, user, started_at=now - timedelta(minutes=20))
            inst.complete_attempt(attempt, result="Fail", completed_at=now)
            _wait(lambda: slack.received, "the alert")
            [post] = slack.received
            cid = channel_id(post.channel or "")
            latencies: list[float] = []
            for i in range(CLICKS + 1):
                message = slack.api.message(cid, post.ts or "") or post
                if i == 0:
                    click = slack.api.click(message, "notifier.follow_up", "U1")
                elif i % 2:
                    click = slack.api.click(message, "notifier.mute_student", ADMIN, option="1d")
                else:
                    click = slack.api.click(message, "notifier.unmute", ADMIN)
                before = len(slack.api.updates)
                sent = time.monotonic()
                slack.socket.send_envelope(click)
                _wait(lambda b=before: len(slack.api.updates) > b, "chat.update")  # type: ignore[misc]
                latencies.append(slack.api.updates[-1].at - sent)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return {
        "clicks": len(latencies),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": max(latencies),
    }


if __name__ == "__main__":
    print(measure())
