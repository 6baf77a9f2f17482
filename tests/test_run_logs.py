"""Logs an operator can read (issue 23, part 7), over the real `notifier run`: one line
at start (version, store without its password, sources, rules) and one at a clean stop
(the signal, uptime, what it finished); pushed batches at DEBUG and a minute's summary
at INFO; no warning about a source no rule uses."""

from __future__ import annotations

import json
import logging
import re
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from notifier import __version__
from notifier.obs.summary import PushSummary, PushTally
from notifier.sandbox.webhooks import PRIVATE_KEY, Pusher
from tests.e2e import WEBHOOK_SECRET, Harness, sqlite_rows
from tests.waiting import ManualClock, wait_until

SECRETS = ("xoxb-e2e-token", WEBHOOK_SECRET, PRIVATE_KEY)


def _json_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def _all_sent(db: Path) -> bool:
    """Whether the notifier's outbox holds deliveries and all of them are sent."""
    rows = sqlite_rows(db, "SELECT status FROM outbox")
    return bool(rows) and all(status == "sent" for (status,) in rows)


def _run_with_push(h: Harness, level: str) -> tuple[str, Any]:
    """`notifier run` with push on and a long poll interval at `level`: the sandbox's
    pusher sends a started and a completed webhook of a failed attempt, the alert
    arrives by push, then SIGTERM. Returns standard error and the attempt id."""
    port = h.push_on(NOTIFIER_LOG_LEVEL=level, NOTIFIER_LOG_FORMAT="json")
    inst = h.sandbox.institute
    exam = inst.add_exam(title="Organic Chemistry Mock")
    student = inst.add_user(name="Kavya Nair", email="kavya@school.example", username="kavya")
    proc = h.start()
    pusher = Pusher(f"http://127.0.0.1:{port}").attach(inst)
    try:
        wait_until(
            lambda: proc.poll() is not None or h.sandbox.request_counts.get("attempts", 0) >= 2,
            message="the first poll",
        )
        assert proc.poll() is None
        attempt = inst.start_attempt(exam, student)
        inst.complete_attempt(attempt, result="Fail")
        wait_until(lambda: proc.poll() is not None or h.webhook.received, message="the alert")
        # Every channel's delivery, not only the webhook's: the stop line says what is left.
        wait_until(lambda: proc.poll() is not None or _all_sent(h.db), message="every delivery")
        assert pusher.wait_idle()
        assert [(s.state, s.status) for s in pusher.sent] == [("started", 200), ("completed", 200)]
    finally:
        pusher.stop()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    for secret in (*SECRETS, h.sandbox.password):
        assert secret not in err + out
    return err, attempt


def test_start_and_clean_stop_lines_and_a_push_summary_at_info(h: Harness) -> None:
    err, _ = _run_with_push(h, "INFO")
    lines = _json_lines(err)
    assert {e["level"] for e in lines} <= {"INFO"}  # nothing to act on: no warnings

    (start,) = [e for e in lines if e["message"].startswith("notifier ") and "start" in e]
    assert start == lines[0] | start  # the first line, whatever else follows
    assert start["message"] == (
        f"notifier {__version__} started: store sqlite {h.db}; polling attempts every "
        f"3600 s; push on; rules {h.tmp / 'rules.yaml'} (2 rules, 4 channels)"
    )
    assert start["start"] == {
        "version": __version__,
        "store": f"sqlite {h.db}",
        "sources": ["attempts"],
        "poll_interval": 3600.0,
        "push": True,
        "rules_path": str(h.tmp / "rules.yaml"),
        "rules": 2,
        "disabled_rules": 0,
        "channels": 4,
    }

    stop = lines[-1]  # after the server, the app and the store are closed
    assert re.fullmatch(
        r"notifier stopped cleanly on SIGTERM, up [\d.]+ s: finished 1 cycle, "
        r"2 pushed webhooks, [1-9]\d* deliveries sent; nothing left to send",
        stop["message"],
    ), stop["message"]
    assert stop["stop"]["signal"] == "SIGTERM" and stop["stop"]["uptime_seconds"] > 0
    assert stop["stop"]["webhooks"] == 2 and stop["stop"]["queued"] == 0

    # No line a batch at INFO; what push did is one summary, flushed at the stop.
    messages = [e["message"] for e in lines]
    assert not [m for m in messages if re.match(r"push: \d+ webhooks, ", m)]
    (summary,) = [e for e in lines if e["message"].startswith("push: ")]
    assert re.fullmatch(
        r"push: 2 webhooks in the last [^:]+: 1 new completions \([1-9]\d* deliveries "
        r"queued\), 1 started",
        summary["message"],
    ), summary["message"]
    assert summary["push"]["webhooks"] == 2 and summary["push"]["started"] == 1
    # The idle cycle (the only poll, the baseline) is not an INFO line either.
    assert not [m for m in messages if m.startswith("cycle finished")]


def test_each_pushed_batch_is_a_debug_line(h: Harness) -> None:
    err, _ = _run_with_push(h, "DEBUG")
    batches = [
        e
        for e in _json_lines(err)
        if re.fullmatch(r"push: \d+ webhooks, \d+ completions, \d+ deliveries queued", e["message"])
    ]
    assert batches and {e["level"] for e in batches} == {"DEBUG"}
    assert sum(int(e["message"].split()[1]) for e in batches) == 2
    assert any(", 1 completions, " in e["message"] for e in batches)


@pytest.mark.parametrize(
    "event",
    [
        "attempt.completed",
        # Polls attempts, content attempts and live classes for the students' activity:
        # their attendees without an email were a warning each, on rules that use none.
        "student.inactive",
    ],
)
def test_no_warning_about_a_source_no_rule_uses(h: Harness, event: str) -> None:
    (h.tmp / "rules.yaml").write_text(
        f"channels:\n  terminal:\n    type: console\n"
        f"rules:\n  - name: r\n    event: {event}\n    notify: [terminal]\n"
    )
    inst = h.sandbox.institute
    conf = inst.add_conference("Live revision")  # a student and a guest without an email
    student = inst.add_user(name="Meera Iyer", email="meera@school.example")
    inst.join_conference(conf, student)
    inst.join_conference(conf, name="Guest viewer")
    inst.leave_conference(conf, student)  # her attempt completes: the class is found
    for _ in range(2):  # the baseline, then a cycle
        done = h.notifier("run", "--once")
        assert done.returncode == 0, done.stderr
        assert " WARNING " not in done.stderr and " ERROR " not in done.stderr, done.stderr


def test_the_start_line_shows_a_postgresql_store_without_its_password(
    h: Harness, pg_url: str
) -> None:
    password = urlsplit(pg_url).password or ""
    assert password
    h.extra_env = {"NOTIFIER_DB": pg_url, "NOTIFIER_LOG_FORMAT": "json"}
    done = h.notifier("run", "--once")
    assert done.returncode == 0, done.stderr
    assert password not in done.stderr + done.stdout
    lines = _json_lines(done.stderr)
    (start,) = [e for e in lines if "start" in e]
    parts = urlsplit(pg_url)
    assert start["start"]["store"] == pg_url.replace(f":{password}@", ":***@")
    assert f"store postgresql://{parts.username}:***@{parts.hostname}" in start["message"]
    assert lines[-1]["message"].startswith("notifier stopped cleanly after its one cycle")


# -- the minute's summary, on an injected clock ------------------------------------------


def test_the_push_summary_is_one_line_a_minute_of_pushes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    summary = PushSummary(logging.getLogger("test.push"), clock)
    caplog.set_level(logging.INFO, "test.push")

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records]

    summary.add(PushTally(webhooks=392, new=380, queued=95, seen=12))
    clock.advance(30)
    summary.add(PushTally(webhooks=20, started=20))
    assert summary.tick() is None and lines() == []  # not a minute yet
    clock.advance(29.9)
    assert summary.tick() is None
    clock.advance(0.1)
    assert summary.tick() == (
        "push: 412 webhooks in the last minute: 380 new completions (95 deliveries queued), "
        "20 started, 12 already seen"
    )
    assert len(lines()) == 1 and caplog.records[0].levelno == logging.INFO
    assert caplog.records[0].push["webhooks"] == 412  # type: ignore[attr-defined]

    clock.advance(600)  # a quiet ten minutes: nothing to say
    assert summary.tick() is None and summary.flush() is None
    summary.add(PushTally(webhooks=4, queued=1, refuted=1))  # 3 rows of no rule's source
    clock.advance(5)
    assert summary.tick() is None
    assert summary.flush() == (
        "push: 4 webhooks in the last 5 s: 0 new completions (1 delivery queued), "
        "1 not borne out by the API, 3 with nothing to do"
    )
    summary.add(PushTally(webhooks=4, new=3, queued=3, retrying=1))
    clock.advance(300)  # the loop looked only now: the line says how long it covers
    assert summary.tick() == (
        "push: 4 webhooks in the last 5 minutes: 3 new completions (3 deliveries queued), "
        "1 to read again"
    )
    assert len(lines()) == 3
