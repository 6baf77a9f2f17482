"""Pushed webhooks through the real inbox, sources, rules, store and delivery, against
the sandbox institute (whose own webhook code renders and signs the payloads): push
and poll agree, in either order, and a payload pushed twice alerts once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from notifier.runtime.compose import build
from notifier.sandbox.model import utcnow
from notifier.sandbox.webhooks import (
    PRIVATE_KEY,
    PUBLIC_KEY,
    content_payload,
    exam_payload,
    sign_content,
    sign_exam,
)
from notifier.state import SqliteStore
from tests.inprocess import Rig, rig
from tests.waiting import TIMEOUT, poll

FAILED = """
rules:
  - name: failed
    event: attempt.completed
    when: {result: Fail}
    notify: [hook]
"""
BY_SCORE = """
rules:
  - name: any-score
    event: attempt.completed
    when: {percentage: {gte: 0}}
    notify: [hook]
"""
VIDEOS = """
rules:
  - name: watched
    event: content_attempt.completed
    when: {content_type: video}
    notify: [hook]
  - name: graded
    event: content_attempt.completed
    when: {content_type: exam, result: {exists: true}}
    notify: [hook]
"""


def push_exam(r: Rig, attempt_id: int) -> None:
    payload = sign_exam(exam_payload(r.sandbox.institute, attempt_id), PUBLIC_KEY, PRIVATE_KEY)
    r.store.inbox.inbox_add([("exam", json.dumps(payload))], r.clock())


def push_content(r: Rig, content_attempt_id: int) -> None:
    payload = content_payload(r.sandbox.institute, content_attempt_id)
    signed = sign_content(payload, PUBLIC_KEY, PRIVATE_KEY)
    r.store.inbox.inbox_add([("chapter-content", json.dumps(signed))], r.clock())


def deliver_pushes(r: Rig) -> None:
    r.app.process_inbox()
    r.app.deliverer.run_pass()


def failed_attempt(r: Rig) -> int:
    inst = r.sandbox.institute
    aid = inst.start_attempt(1, 2)
    inst.complete_attempt(aid, result="Fail", percentile=12.0)
    return aid


def alert_keys(r: Rig) -> list[str]:
    return [a["key"] for a in r.alerts()]


def test_push_then_poll_alerts_once_with_the_polls_fields(tmp_path: Path) -> None:
    with rig(tmp_path, FAILED) as r:
        r.cycle()  # baseline
        aid = failed_attempt(r)
        r.sandbox.reset_counts()
        push_exam(r, aid)
        deliver_pushes(r)
        assert alert_keys(r) == [str(aid)]  # before any poll
        counts = r.sandbox.request_counts
        assert counts.get("attempt") == 1  # `result` is not in the payload: the detail
        assert "attempts" not in counts  # and no list was read
        pushed = r.alerts()[0]["data"]
        r.cycle()
        assert alert_keys(r) == [str(aid)]  # the poll found it seen

    (tmp_path / "poll").mkdir()
    with rig(tmp_path / "poll", FAILED) as r:  # the same attempt by poll alone
        r.cycle()
        aid = failed_attempt(r)
        r.cycle()
        polled = r.alerts()[0]["data"]
    assert pushed["result"] == polled["result"] == "Fail"
    assert pushed["exam_title"] and pushed["student"]
    # The two sandboxes differ only in real time and port: every other field agrees,
    # by name and value, and the push (which needed the detail) has its fields too.
    timed = {"date", "last_started_time", "last_answer_updated_time", "time_taken"}
    timed |= {"remaining_time", "speed", "exam_url", "user_url"}  # and the ports
    for name in set(polled) - timed:
        assert pushed[name] == polled[name], name
    assert pushed["percentile"] == 12.0


def test_poll_then_push_alerts_once(tmp_path: Path, db: str) -> None:
    with rig(tmp_path, FAILED, db=db) as r:
        r.cycle()
        aid = failed_attempt(r)
        r.cycle()
        assert alert_keys(r) == [str(aid)]
        push_exam(r, aid)
        deliver_pushes(r)
        assert alert_keys(r) == [str(aid)]
        assert r.store.inbox.inbox_pending(r.clock()) == []  # processed, not left pending


def test_the_same_webhook_twice_alerts_once(tmp_path: Path, db: str) -> None:
    with rig(tmp_path, FAILED, db=db) as r:
        r.cycle()
        aid = failed_attempt(r)
        push_exam(r, aid)
        push_exam(r, aid)  # both in one batch
        deliver_pushes(r)
        push_exam(r, aid)  # and again later
        deliver_pushes(r)
        r.cycle()
        assert alert_keys(r) == [str(aid)]


def test_a_pushed_completion_costs_one_detail_even_when_the_payload_has_every_field(
    tmp_path: Path,
) -> None:
    """The payload's `attempt_state` is not signed: the detail confirms it, once, and
    no list is read."""
    with rig(tmp_path, BY_SCORE) as r:
        r.cycle()
        aid = failed_attempt(r)
        r.sandbox.reset_counts()
        push_exam(r, aid)
        deliver_pushes(r)
        assert alert_keys(r) == [str(aid)]
        assert r.sandbox.request_counts.get("attempt") == 1
        assert "attempts" not in r.sandbox.request_counts


def test_a_passed_attempt_is_marked_seen_without_an_alert(tmp_path: Path) -> None:
    with rig(tmp_path, FAILED) as r:
        r.cycle()
        inst = r.sandbox.institute
        aid = inst.start_attempt(1, 3)
        inst.complete_attempt(aid, result="Pass")
        push_exam(r, aid)
        deliver_pushes(r)
        assert r.alerts() == []
        assert r.store.seen.unseen("attempts", [str(aid)]) == set()


def test_a_pushed_start_puts_the_attempt_under_watch_when_its_completion_is_lost(
    tmp_path: Path,
) -> None:
    """An attempt started days ago (outside the window the completed list is read in)
    whose completion webhook never came: the pushed start is enough for the poll."""
    with rig(tmp_path, FAILED) as r:
        r.cycle()
        inst = r.sandbox.institute
        aid = inst.start_attempt(1, 4, started_at=utcnow() - timedelta(days=4))
        push_exam(r, aid)  # started
        deliver_pushes(r)
        inst.complete_attempt(aid, result="Fail")  # its completion webhook is lost
        r.cycle()
        assert alert_keys(r) == [str(aid)]


def test_pushed_content_attempts_alert_once_in_a_final_state(tmp_path: Path) -> None:
    with rig(tmp_path, VIDEOS) as r:
        r.cycle()
        inst = r.sandbox.institute
        video = inst.add_content_attempt(2, "video")
        exam = inst.add_content_attempt(3, "assessment")
        push_content(r, video)  # Started: nothing yet
        deliver_pushes(r)
        inst.complete_content_attempt(video, watched_percentage=90)
        inst.complete_content_attempt(exam, state="Pending Evaluation")
        push_content(r, video)
        push_content(r, exam)
        deliver_pushes(r)
        assert alert_keys(r) == [str(video)]
        alert = r.alerts()[0]["data"]
        assert alert["watched_percentage"] == 90
        assert alert["student"] and alert["title"] and alert["course_title"]
        inst.complete_content_attempt(exam, state="Evaluation Completed", percentage=35.0)
        r.cycle()  # the poll finds the graded exam; the video is already seen
        push_content(r, exam)  # and its webhook, arriving late, is a duplicate
        deliver_pushes(r)
        assert sorted(alert_keys(r)) == sorted([str(video), str(exam)])


def test_a_webhook_recorded_before_a_crash_is_processed_at_start_up(tmp_path: Path) -> None:
    """Answered 200, then the process died before processing it: the next process
    alerts from the inbox (the attempt started days ago, so no poll would find it)."""
    with rig(tmp_path, FAILED) as r:
        r.cycle()
        inst = r.sandbox.institute
        aid = inst.start_attempt(1, 4, started_at=utcnow() - timedelta(days=4))
        inst.complete_attempt(aid, result="Fail")
        push_exam(r, aid)  # recorded; this App "crashes" before processing it
        store = SqliteStore(r.store.path)
        app = build(r.app.settings, ruleset=r.app.ruleset, store=store, clock=r.clock).app
        try:
            app.cycle()  # the first cycle of the new process
        finally:
            app.close()
            store.close()
        assert alert_keys(r) == [str(aid)]
        r.cycle()
        assert alert_keys(r) == [str(aid)]


def test_a_push_wakes_the_loop_long_before_the_next_poll(tmp_path: Path) -> None:
    """The loop (here on this thread, as in `notifier run`) waits an hour for its next
    poll; a webhook, recorded by another thread as the endpoint does, is alerted on
    at once."""
    with rig(tmp_path, FAILED, NOTIFIER_POLL_INTERVAL="3600") as r:
        seen: dict[str, Any] = {}

        def testpress() -> None:
            store = SqliteStore(r.store.path)  # the endpoint's own connection
            try:
                assert wait_for(lambda: store.seen.has_baseline("attempts"))
                aid = failed_attempt(r)
                payload = sign_exam(exam_payload(r.sandbox.institute, aid), PUBLIC_KEY, PRIVATE_KEY)
                store.inbox.inbox_add([("exam", json.dumps(payload))], r.clock())
                r.app.on_push()  # what the endpoint does once the row is committed
                seen["aid"] = aid
                seen["arrived"] = wait_for(lambda: alert_keys(r) == [str(aid)])
            finally:
                store.close()
                r.app.stop.set()

        helper = threading.Thread(target=testpress, daemon=True)
        helper.start()
        r.app.run_forever()
        helper.join(10)
        assert seen["arrived"], "no alert by push"
        # The baseline's two lists and the history read-back's one page: no poll since.
        assert r.sandbox.request_counts.get("attempts") == 3


def test_the_sandbox_signs_what_the_notifier_verifies(tmp_path: Path) -> None:
    """Two implementations of the notes' hash (the sandbox never imports the
    notifier's): every webhook the sandbox sends verifies."""
    from notifier.sandbox import Sandbox
    from notifier.sandbox.standins import WebhookReceiver
    from notifier.testpress.push import PushKeys, verify

    keys = PushKeys(PUBLIC_KEY, SecretStr(PRIVATE_KEY))
    with WebhookReceiver() as receiver, Sandbox(seed=3, push_to=receiver.base_url) as sandbox:
        inst = sandbox.institute
        aid = inst.start_attempt(1, 1)
        inst.complete_attempt(aid, result="Fail")
        video = inst.add_content_attempt(2, "video")
        inst.complete_content_attempt(video)
        quiz = inst.add_content_attempt(2, "quiz")
        inst.complete_content_attempt(quiz, percentage=55.5)
        assert sandbox.pusher is not None and sandbox.pusher.wait_idle()
        got = receiver.received
    paths = [g.path for g in got]
    assert paths.count("/webhooks/testpress/exam") == 2
    assert paths.count("/webhooks/testpress/chapter-content") == 4
    for request in got:
        kind = "exam" if request.path.endswith("/exam") else "chapter-content"
        assert verify(kind, request.json, keys) == "ok", request.json
    states = [g.json.get("attempt_state") for g in got if g.path.endswith("/exam")]
    assert states == ["started", "completed"]


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Whether `condition` came true (these waits run on helper threads)."""
    return bool(poll(condition, timeout=timeout))


def test_a_completion_whose_detail_fails_is_tried_again_then_left_to_the_poll(
    tmp_path: Path,
) -> None:
    from notifier.runtime.intake import INBOX_RETRY_SECONDS, INBOX_TRIES
    from notifier.sandbox import FaultConfig

    with rig(tmp_path, FAILED) as r:
        r.app.client.max_attempts = 1  # one request a try: the client's own retries
        r.cycle()  # are tested with the client
        aid = failed_attempt(r)
        push_exam(r, aid)
        r.sandbox.faults = FaultConfig(error_rate=1.0)
        deliver_pushes(r)
        assert r.alerts() == []
        (row,) = r.store.inbox.inbox_pending(r.clock() + INBOX_RETRY_SECONDS)
        assert row.tries == 1 and r.store.inbox.inbox_pending(r.clock()) == []  # waits
        r.sandbox.faults = FaultConfig()
        r.clock.advance(INBOX_RETRY_SECONDS)
        deliver_pushes(r)
        assert alert_keys(r) == [str(aid)]

        other = failed_attempt(r)
        push_exam(r, other)
        r.sandbox.faults = FaultConfig(error_rate=1.0)
        for _ in range(INBOX_TRIES):
            deliver_pushes(r)
            r.clock.advance(INBOX_RETRY_SECONDS)
        assert r.store.inbox.inbox_pending(r.clock() + 1e6) == []  # given up on
        r.sandbox.faults = FaultConfig()
        r.cycle()  # not marked seen: the poll alerts
        assert alert_keys(r) == [str(aid), str(other)]


def test_a_rule_on_a_looked_up_name_and_on_result_still_gets_the_detail(tmp_path: Path) -> None:
    rules = """
rules:
  - name: named-fail
    event: attempt.completed
    when: {student: {exists: true}, result: Fail}
    notify: [hook]
"""
    with rig(tmp_path, rules) as r:
        r.cycle()
        aid = failed_attempt(r)
        push_exam(r, aid)
        deliver_pushes(r)
        assert alert_keys(r) == [str(aid)]


def test_a_content_rule_on_a_field_the_webhook_lacks_is_judged_on_the_apis_row(
    tmp_path: Path,
) -> None:
    """`chapter_id` is not in the webhook: the content attempt read back from the API
    (the list, filtered by the signed user and content) has it, so the push alerts at
    once, and the poll finds it seen."""
    rules = """
rules:
  - name: chapter-video
    event: content_attempt.completed
    when: {content_type: video, chapter_id: {gte: 0}}
    notify: [hook]
"""
    with rig(tmp_path, rules) as r:
        r.cycle()
        inst = r.sandbox.institute
        video = inst.add_content_attempt(2, "video")
        inst.complete_content_attempt(video)
        r.sandbox.reset_counts()
        push_content(r, video)
        deliver_pushes(r)
        assert alert_keys(r) == [str(video)]
        assert r.sandbox.request_counts.get("content_attempts") == 1  # one filtered page
        assert r.alerts()[0]["data"]["chapter_id"] is not None
        r.cycle()
        assert alert_keys(r) == [str(video)]


def test_with_a_long_poll_interval_a_failed_delivery_is_retried_between_polls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifier.runtime import intake

    monkeypatch.setattr(intake, "RETRY_TICK", 0.2)
    with rig(tmp_path, FAILED, NOTIFIER_POLL_INTERVAL="3600") as r:
        r.cycle()
        aid = failed_attempt(r)
        push_exam(r, aid)
        r.webhook.script([503])  # the first send fails
        r.app.wake.set()
        r.app.stop.clear()
        timer = threading.Timer(TIMEOUT, r.app.stop.set)  # a hang fails, not blocks
        timer.start()
        done = threading.Thread(
            target=lambda: wait_for(lambda: alert_keys(r) == [str(aid)]) and r.app.stop.set(),
            daemon=True,
        )
        done.start()
        try:
            intake.between_polls(
                time.monotonic() + 3600,
                stop=r.app.stop,
                wake=r.app.wake,
                process=r.app.process_inbox,
                deliver=r.app.deliverer.run_pass,
            )
        finally:
            timer.cancel()
        statuses = [req.status for req in r.webhook.received]
        assert statuses == [503, 204]  # sent, failed, and retried long before any poll
