"""End to end by push: the sandbox institute sends its signed webhooks (as Testpress
does) to the real `notifier run`, whose poll interval is an hour; the alert arrives
at once, long before any poll could find it, and refusals stay quiet."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from notifier.sandbox.standins import free_port
from notifier.sandbox.webhooks import PRIVATE_KEY, PUBLIC_KEY, Pusher, exam_payload, sign_exam
from tests import loopback
from tests.e2e import Harness, sqlite_rows
from tests.loopback import head_only
from tests.waiting import TIMEOUT, wait_until


def _read_back(db: Path) -> bool:
    """Whether the store's history read-back (its first cycle's last read) is done,
    read without writing (the notifier may still be creating the store)."""
    try:
        rows = sqlite_rows(
            db, "SELECT value FROM state WHERE scope = 'readback' AND key = 'cursor'"
        )
    except sqlite3.Error:
        return False
    return bool(rows) and json.loads(rows[0][0]).get("status") == "done"


def _wait(condition: Callable[[], bool], proc: subprocess.Popen[str], limit: float) -> bool:
    """Whether `condition` came true before `proc` exited; fails after a generous wait
    (at least `limit` s)."""
    wait_until(
        lambda: proc.poll() is not None or condition(),
        timeout=max(limit, TIMEOUT),
        message="the condition (or the notifier to exit)",
    )
    return condition()


def _post(port: int, path: str, body: bytes) -> int:
    """The answer's status; 0 when nothing answered (not listening yet)."""
    try:
        return loopback.post(port, path, body)[0]
    except OSError:
        return 0


def test_an_alert_arrives_by_push_long_before_the_next_poll(h: Harness) -> None:
    port = h.push_on()
    inst = h.sandbox.institute
    exam = inst.add_exam(title="Organic Chemistry Mock")
    student = inst.add_user(name="Kavya Nair", email="kavya@school.example", username="kavya")
    proc = h.start()
    pusher = Pusher(f"http://127.0.0.1:{port}").attach(inst)
    try:
        assert _wait(lambda: h.sandbox.request_counts.get("attempts", 0) >= 2, proc, 30)
        assert _wait(lambda: _post(port, "/webhooks/testpress/exam", b"[]") == 400, proc, 10)
        polls = h.sandbox.request_counts["attempts"]

        attempt = inst.start_attempt(exam, student)
        inst.complete_attempt(attempt, result="Fail")
        pushed_at = time.monotonic()
        assert _wait(lambda: len(h.webhook.received) >= 1, proc, 20), "no alert by push"
        took = time.monotonic() - pushed_at

        (request,) = h.webhook.received
        assert request.verified
        assert request.json["rule"] == "failed-exam"
        assert [a["key"] for a in request.json["alerts"]] == [str(attempt)]
        assert request.json["alerts"][0]["data"]["student"] == "Kavya Nair"
        assert took < 10  # seconds, where the poll would have taken up to an hour
        assert h.sandbox.request_counts["attempts"] == polls  # no poll found it
        assert pusher.wait_idle()  # the alert may arrive before the answer is read
        assert [(s.state, s.status) for s in pusher.sent] == [("started", 200), ("completed", 200)]

        forged = sign_exam(exam_payload(inst, attempt), PUBLIC_KEY, "not-the-private-key")
        assert _post(port, "/webhooks/testpress/exam", json.dumps(forged).encode()) == 401
        big = head_only(port, "/webhooks/testpress/exam", 1024 * 1024 + 1)
        assert big.startswith(b"HTTP/1.1 413")
        metrics = loopback.get(port, "/metrics")[1]
        assert 'notifier_webhooks_total{endpoint="exam",status="200"} 2.0' in metrics
        assert 'notifier_webhooks_total{endpoint="exam",status="401"} 1.0' in metrics
        assert 'notifier_webhooks_total{endpoint="exam",status="400"}' in metrics  # the probe
        assert 'notifier_events_total{kind="attempt.completed"} 1.0' in metrics
    finally:
        pusher.stop()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert PRIVATE_KEY not in err + out
    assert "refused a webhook on /webhooks/testpress/exam" in err
    assert len(h.webhook.received) == 1  # and nothing more after the refusals
    # It came by push: the loop's summary says so (at the stop: not a minute yet).
    assert re.search(r"push: 2 webhooks in the last [^:]+: 1 new completions \([1-9]", err)


def test_notifier_sandbox_push_to_sends_signed_webhooks(tmp_path: Path) -> None:
    """`notifier sandbox --push-to URL`: its students act every second, and every
    webhook verifies with the keys it prints."""
    from pydantic import SecretStr

    from notifier.sandbox.standins import WebhookReceiver
    from notifier.testpress.push import PushKeys, verify

    with WebhookReceiver() as receiver:
        proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "sandbox", "--port", str(free_port()),
             "--push-to", receiver.base_url],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            printed = {}
            for line in proc.stdout:
                name, _, value = line.strip().partition(": ")
                printed[name] = value.strip()
                if name == "webhook private key":
                    break
            wait_until(lambda: len(receiver.received) >= 3, message="3 pushes")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)
        got = receiver.received
    keys = PushKeys(printed["webhook public key"], SecretStr(printed["webhook private key"]))
    assert len(got) >= 3
    for request in got:
        kind = "exam" if request.path == "/webhooks/testpress/exam" else "chapter-content"
        assert request.path.startswith("/webhooks/testpress/")
        assert verify(kind, request.json, keys) == "ok"


def test_without_the_keys_the_endpoints_are_404_and_one_key_alone_is_exit_2(h: Harness) -> None:
    port = free_port()
    h.extra_env.update({"NOTIFIER_HTTP_ADDR": f"127.0.0.1:{port}"})
    proc = h.start()
    try:
        body = json.dumps(sign_exam(exam_payload_for(h), PUBLIC_KEY, PRIVATE_KEY)).encode()
        assert _wait(lambda: _post(port, "/webhooks/testpress/exam", body) == 404, proc, 20)
        assert _post(port, "/webhooks/testpress/chapter-content", body) == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)

    h.extra_env["TESTPRESS_WEBHOOK_PUBLIC_KEY"] = PUBLIC_KEY
    out = h.notifier("run", "--once")
    assert out.returncode == 2
    assert "TESTPRESS_WEBHOOK_PRIVATE_KEY: required with TESTPRESS_WEBHOOK_PUBLIC_KEY" in out.stderr


def exam_payload_for(h: Harness) -> dict[str, object]:
    inst = h.sandbox.institute
    attempt = inst.start_attempt(1, 1)
    inst.complete_attempt(attempt, result="Fail")
    return exam_payload(inst, attempt)


def test_a_webhook_answered_200_survives_a_sigkill_before_it_is_processed(h: Harness) -> None:
    """The detail request hangs, so the loop is still processing the webhook when the
    process is killed; the next process alerts from the inbox. (The attempt started
    days ago, outside any poll's window, and its start was never pushed: only the
    inbox knows it.)"""
    from datetime import timedelta

    from notifier.sandbox import FaultConfig
    from notifier.sandbox.model import utcnow

    port = h.push_on()
    inst = h.sandbox.institute
    attempt = inst.start_attempt(1, 1, started_at=utcnow() - timedelta(days=4))
    inst.complete_attempt(attempt, result="Fail")
    body = json.dumps(sign_exam(exam_payload(inst, attempt), PUBLIC_KEY, PRIVATE_KEY)).encode()

    first = h.start()
    try:
        # The first cycle is over: its polls and the new store's history read-back.
        assert _wait(lambda: _read_back(h.db), first, 30)
        h.sandbox.faults = FaultConfig(slow_rate=1.0, slow_seconds=60)  # the detail hangs
        h.sandbox.reset_counts()
        assert _post(port, "/webhooks/testpress/exam", body) == 200
        assert _wait(lambda: h.sandbox.request_counts.get("attempt", 0) >= 1, first, 10)
    finally:
        first.kill()
        first.communicate(timeout=20)
    assert h.webhook.received == []

    h.sandbox.faults = FaultConfig()
    second = h.start()
    try:
        assert _wait(lambda: len(h.webhook.received) >= 1, second, 30), "lost after the 200"
        assert [a["key"] for a in h.webhook.received[0].json["alerts"]] == [str(attempt)]
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=20)


def test_push_on_either_state_store(h: Harness, db: str) -> None:
    """SQLite, or PostgreSQL (where any replica takes pushes): a completion no poll can
    see (started days ago, its start never pushed) alerts by push alone."""
    from datetime import timedelta

    from notifier.sandbox.model import utcnow

    port = h.push_on(NOTIFIER_DB=db)
    inst = h.sandbox.institute
    attempt = inst.start_attempt(1, 1, started_at=utcnow() - timedelta(days=4))
    inst.complete_attempt(attempt, result="Fail")
    body = json.dumps(sign_exam(exam_payload(inst, attempt), PUBLIC_KEY, PRIVATE_KEY)).encode()
    proc = h.start()
    try:
        assert _wait(lambda: _post(port, "/webhooks/testpress/exam", body) == 200, proc, 30)
        assert _wait(lambda: len(h.webhook.received) >= 1, proc, 20), "no alert by push"
        assert [a["key"] for a in h.webhook.received[0].json["alerts"]] == [str(attempt)]
        assert _post(port, "/webhooks/testpress/exam", body) == 200  # a duplicate
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert len(h.webhook.received) == 1
    assert PRIVATE_KEY not in err
