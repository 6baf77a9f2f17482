"""End to end over loopback: sandbox institute -> `notifier run --once` (the real
command, in a subprocess) -> fake Slack Web API, a real SMTP server and a webhook
receiver that verifies Standard Webhooks signatures."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e import Harness, open_harness, sqlite_rows
from tests.waiting import wait_until


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with open_harness(tmp_path, seed=3) as harness:
        yield harness


def _class(h: Harness) -> dict[str, int]:
    inst = h.sandbox.institute
    return {
        "exam": inst.add_exam(title="Algebra Mock 3"),
        "asha": inst.add_user(name="Asha Verma", email="asha@school.example", username="asha"),
        "ravi": inst.add_user(name="Ravi Kumar", email="ravi@school.example", username="ravi"),
        "meena": inst.add_user(name="Meena Iyer", email="meena@school.example", username="meena"),
    }


def _complete(h: Harness, exam: int, user: int, **outcome: object) -> int:
    inst = h.sandbox.institute
    attempt = inst.start_attempt(exam, user)
    inst.complete_attempt(attempt, **outcome)
    return attempt


def test_baseline_then_one_alert_per_completion_per_channel_never_repeated(h: Harness) -> None:
    c = _class(h)
    _complete(h, c["exam"], c["meena"], result="Fail", percentile=5.0)  # before the baseline

    first = h.notifier("run", "--once")
    assert first.returncode == 0, first.stderr
    assert (h.slack.received, h.webhook.received, h.smtp.received) == ([], [], [])
    assert "failed-exam" not in first.stdout

    failed = _complete(h, c["exam"], c["asha"], result="Fail", score=12.0, percentile=40.0)
    low = _complete(h, c["exam"], c["ravi"], result="Pass", score=48.0, percentile=12.5)
    _complete(h, c["exam"], c["meena"], result="Pass", score=90.0, percentile=95.0)

    second = h.notifier("run", "--once")
    assert second.returncode == 0, second.stderr

    slack_texts = sorted(post.text for post in h.slack.received)
    assert len(slack_texts) == 2
    assert all(post.channel == "#exam-alerts" for post in h.slack.received)
    fail_text = next(t for t in slack_texts if "failed-exam" in t)
    assert "Asha Verma" in fail_text and "Algebra Mock 3" in fail_text and "Fail" in fail_text
    low_text = next(t for t in slack_texts if "low-percentile" in t)
    assert "Ravi Kumar" in low_text and "12.5" in low_text

    assert len(h.webhook.received) == 1
    hook = h.webhook.received[0]
    assert hook.verified
    assert hook.json["rule"] == "failed-exam" and hook.json["channel"] == "lms"
    assert [a["key"] for a in hook.json["alerts"]] == [str(failed)]
    assert hook.json["alerts"][0]["data"]["student"] == "Asha Verma"
    assert hook.headers["webhook-id"] == hook.json["id"]

    subjects = sorted(m.message["Subject"] for m in h.smtp.received)
    assert len(subjects) == 2
    assert subjects[0].startswith("[failed-exam]") and subjects[1].startswith("[low-percentile]")
    mail = next(
        m.message for m in h.smtp.received if m.message["Subject"].startswith("[low-percentile]")
    )
    assert {p.get_content_type() for p in mail.walk()} >= {"text/plain", "text/html"}
    assert "Ravi Kumar" in mail.get_body(("plain",)).get_content()

    console = [line for line in second.stdout.splitlines() if "failed-exam" in line]
    assert len(console) == 1 and "Asha Verma" in console[0]

    status = h.status()
    assert status["deliveries"] == {"queued": 0, "retrying": 0, "dead": 0, "sent": 6, "muted": 0}
    assert status["sources"]["attempts"]["last_error"] is None
    assert str(low) not in {a["key"] for a in hook.json["alerts"]}

    third = h.notifier("run", "--once")  # a restart sees nothing new
    assert third.returncode == 0, third.stderr
    assert len(h.slack.received) == 2 and len(h.webhook.received) == 1
    assert len(h.smtp.received) == 2
    assert "failed-exam" not in third.stdout


def test_attempt_running_at_the_baseline_alerts_when_it_completes(h: Harness) -> None:
    c = _class(h)
    started_long_ago = datetime.now(UTC) - timedelta(days=3)
    attempt = h.sandbox.institute.start_attempt(c["exam"], c["asha"], started_at=started_long_ago)
    assert h.notifier("run", "--once").returncode == 0
    h.sandbox.institute.complete_attempt(attempt, result="Fail")
    assert h.notifier("run", "--once").returncode == 0
    assert [a["key"] for r in h.webhook.received for a in r.json["alerts"]] == [str(attempt)]


def test_a_failing_channel_does_not_block_the_others_and_is_retried(h: Harness) -> None:
    c = _class(h)
    assert h.notifier("run", "--once").returncode == 0
    # Retry-After keeps the retry out of this pass even when a loaded machine makes the
    # pass outlast NOTIFIER_RETRY_INITIAL_SECONDS (0.2 s): the pass sends what is due.
    h.webhook.script([(503, "busy", {"Retry-After": "2"})])
    _complete(h, c["exam"], c["asha"], result="Fail")

    out = h.notifier("run", "--once")
    assert out.returncode == 0, out.stderr  # deliveries failing is not a source failure
    assert len(h.slack.received) == 1 and len(h.smtp.received) == 1
    assert h.status()["deliveries"]["retrying"] == 1

    due = _retry_due(h)  # the Retry-After, as the store holds it
    wait_until(lambda: time.time() >= due, interval=0.05, message="the retry to be due")
    assert h.notifier("run", "--once").returncode == 0
    assert [r.verified for r in h.webhook.received if r.status < 300] == [True]
    assert h.status()["deliveries"] == {
        "queued": 0,
        "retrying": 0,
        "dead": 0,
        "sent": 4,
        "muted": 0,
    }


def test_a_final_rejection_is_dead_at_once_and_replay_sends_it_again(h: Harness) -> None:
    c = _class(h)
    assert h.notifier("run", "--once").returncode == 0
    h.webhook.script([410])
    _complete(h, c["exam"], c["asha"], result="Fail")
    assert h.notifier("run", "--once").returncode == 0
    assert h.status()["deliveries"]["dead"] == 1

    replay = h.notifier("replay", "--all")
    assert replay.returncode == 0 and "1 dead deliveries queued again" in replay.stdout
    assert h.notifier("run", "--once").returncode == 0
    accepted = [r for r in h.webhook.received if r.status < 300]
    assert len(accepted) == 1 and accepted[0].json["alerts"][0]["key"]
    assert h.status()["deliveries"]["dead"] == 0


def test_since_alerts_on_history_instead_of_baselining(h: Harness) -> None:
    c = _class(h)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    inst = h.sandbox.institute
    old = inst.start_attempt(c["exam"], c["asha"], started_at=two_days_ago - timedelta(days=5))
    inst.complete_attempt(old, result="Fail")
    recent = inst.start_attempt(c["exam"], c["ravi"], started_at=two_days_ago)
    inst.complete_attempt(recent, result="Fail")

    since = (two_days_ago - timedelta(days=1)).date().isoformat()
    out = h.notifier("run", "--once", "--since", since)
    assert out.returncode == 0, out.stderr
    assert [a["key"] for r in h.webhook.received for a in r.json["alerts"]] == [str(recent)]


def test_a_source_that_cannot_be_read_exits_1_and_status_names_the_error(h: Harness) -> None:
    h.extra_env = {"TESTPRESS_TOKEN": "not-a-valid-token-9f8e7d", "TESTPRESS_USERNAME": ""}
    out = h.notifier("run", "--once")
    assert out.returncode == 1
    status = h.notifier("status", "--json")
    report = json.loads(status.stdout)
    assert "401" in report["sources"]["attempts"]["last_error"]
    for text in (out.stdout, out.stderr, status.stdout):
        assert "not-a-valid-token-9f8e7d" not in text


def test_a_second_copy_on_the_same_store_refuses_to_start(h: Harness) -> None:
    h.extra_env = {"NOTIFIER_POLL_INTERVAL": "0.5"}
    first = h.start()
    try:
        wait_until(
            lambda: first.poll() is not None or _status_has_polled(h),
            interval=0.2,
            message="the first copy to poll",
        )
        second = h.notifier("run", "--once")
        assert second.returncode == 2
        assert "already running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=20) == 0
    assert h.notifier("run", "--once").returncode == 0  # the lock went with the process


def _retry_due(h: Harness) -> float:
    """When the retrying delivery is due (the run waits for nothing: a pass sends what is
    due and exits)."""
    [(due,)] = sqlite_rows(h.db, "SELECT next_at FROM outbox WHERE status = 'retrying'")
    return float(due)


def _status_has_polled(h: Harness) -> bool:
    out = h.notifier("status", "--json")
    return out.returncode == 0 and bool(json.loads(out.stdout)["sources"])


def test_configuration_problems_exit_2_and_name_the_variable(h: Harness) -> None:
    h.extra_env = {"NOTIFIER_POLL_INTERVAL": "soon"}
    out = h.notifier("run", "--once")
    assert out.returncode == 2
    assert out.stderr.startswith("NOTIFIER_POLL_INTERVAL:")
    assert "Traceback" not in out.stderr

    h.extra_env = {"TESTPRESS_BASE_URL": ""}
    out = h.notifier("run", "--once")
    assert out.returncode == 2 and "TESTPRESS_BASE_URL" in out.stderr


def test_check_reports_valid_and_invalid_rules(h: Harness) -> None:
    ok = h.notifier("check")
    assert ok.returncode == 0, ok.stderr
    assert "2 rules" in ok.stdout
    bad = h.tmp / "bad.yaml"
    bad.write_text(h.rules.replace("result: Fail", "reslt: Fail"))
    out = h.notifier("check", str(bad))
    assert out.returncode == 2
    assert out.stderr.splitlines()[0].startswith(f"{bad}:19:7: ")
    assert "did you mean 'result'?" in out.stderr
