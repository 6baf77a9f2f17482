"""A backlog is recorded in parts (issue 22): each chunk of new attempts (its seen
marks and queued deliveries) in its own transaction as soon as it is ready, the cursor
with the last. The real `notifier run` is held half-way through a large backlog's poll
(the sandbox holds the detail requests after the first chunk's), killed with SIGKILL
there, and started again: the first part stayed recorded, the cursor did not move, and
in the end every alert arrives exactly once."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.sources import attempts, rows
from notifier.sources.attempts import CHUNK
from notifier.state import delivery_id, open_store
from tests.e2e import WEBHOOK_RULES, Harness, fail_attempts, open_harness, sqlite_rows
from tests.inprocess import rig
from tests.waiting import wait_until

BACKLOG = 2 * CHUNK + 200  # three parts

# `result: Fail` alerts; the percentile rule makes the poll fetch every attempt's detail
# (what the gate holds), and matches none of these.
RULES = (
    WEBHOOK_RULES
    + """\
  - name: below-zero
    event: attempt.completed
    when:
      percentile: {lt: 0}
    notify: [lms]
"""
)


class DetailGate:
    """Lets the first `open_for` attempt-detail requests through, then holds every
    other one on the sandbox's thread until `release()`."""

    def __init__(self, open_for: int) -> None:
        self.open_for = open_for
        self.passed = 0
        self.held = 0
        self.lock = threading.Lock()
        self.released = threading.Event()

    def __call__(self, endpoint: str) -> None:
        if endpoint != "attempt":
            return
        with self.lock:
            if self.passed < self.open_for:
                self.passed += 1
                return
            self.held += 1
        self.released.wait(60)

    def release(self) -> None:
        self.released.set()


def _outbox_rows(db: Path) -> int:
    return int(sqlite_rows(db, "SELECT COUNT(*) FROM outbox")[0][0])


def _store_view(db: Path, keys: set[str]) -> tuple[Any, int, dict[str, int]]:
    """The attempts source's cursor, how many of `keys` are marked seen, the outbox."""
    store = open_store(str(db))
    try:
        cursor = store.sources.get_state("attempts", "cursor")
        seen = len(keys) - len(store.seen.unseen("attempts", keys))
        return cursor, seen, store.outbox.delivery_counts()
    finally:
        store.close()


def test_a_kill_between_the_parts_of_a_backlog_loses_no_alert_and_queues_none_twice(
    tmp_path: Path,
) -> None:
    env = {"NOTIFIER_POLL_INTERVAL": "0.2"}
    with open_harness(tmp_path, seed=8, rules=RULES, extra_env=env) as h:
        assert h.notifier("run", "--once").returncode == 0  # the baseline
        keys = fail_attempts(h.sandbox.institute, BACKLOG, "Backlog", students=25)
        cursor_before, _, _ = _store_view(h.db, keys)
        gate = DetailGate(open_for=CHUNK)
        h.sandbox.before_answer = gate
        log = h.tmp / "run.log"
        proc = h.start(log=log)
        try:
            # The first part is recorded while the second's details are held.
            wait_until(
                lambda: proc.poll() is not None or (gate.held > 0 and _outbox_rows(h.db) > 0),
                message="the first part recorded, the second held",
            )
            assert proc.poll() is None, log.read_text()[-3000:]
            # Nothing of the second part can be recorded: its details are held.
            queued_at_kill = _outbox_rows(h.db)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            h.sandbox.before_answer = None
            gate.release()

        cursor, seen, outbox = _store_view(h.db, keys)
        assert queued_at_kill == CHUNK  # one part: a transaction of its own
        assert seen == CHUNK and outbox["queued"] == CHUNK
        assert cursor == cursor_before  # the cursor goes with the last part only
        assert h.webhook.received == []  # killed while polling: nothing was sent

        h.sandbox.reset_counts()
        _run_until_sent(h)
        _, seen, outbox = _store_view(h.db, keys)
        assert seen == BACKLOG
        assert outbox == {"queued": 0, "retrying": 0, "dead": 0, "sent": BACKLOG, "muted": 0}
        arrivals = Counter(req.json["id"] for req in h.webhook.received)
        expected = {delivery_id("failed-exam", "attempt.completed", k, "lms") for k in keys}
        assert set(arrivals) == expected  # no alert lost
        assert max(arrivals.values()) == 1  # none queued (nor sent) twice
        # The restart read the window again and skipped what the first part recorded.
        assert h.sandbox.request_counts["attempt"] == BACKLOG - CHUNK


def _run_until_sent(h: Harness) -> None:
    for _ in range(5):
        out = h.notifier("run", "--once")
        assert out.returncode == 0, out.stderr[-3000:]
        counts = h.status()["deliveries"]
        if counts["queued"] == counts["retrying"] == 0:
            return
    raise AssertionError(f"deliveries still pending: {counts}")


CHANGE_RULES = """
rules:
  - name: score-dropped
    event: attempt.completed
    change: {field: percentage, drop: 20}
    notify: [hook]
"""


def test_a_backlog_in_parts_is_evaluated_oldest_first_as_history_rules_need(
    tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts of two attempts, rows past three spilled to disk; the attempts' ids run
    against their times, so only an oldest-first hand-over compares each with the one
    before it."""
    monkeypatch.setattr(attempts, "CHUNK", 2)
    monkeypatch.setattr(rows, "SPILL_AFTER", 3)
    with rig(tmp_path, CHANGE_RULES, db=db) as r:
        inst = r.sandbox.institute
        (student,) = r.students(1)
        exam = inst.add_exam(title="Weekly Test")
        assert r.cycle().sources_ok  # the baseline
        now = datetime.now(UTC)
        by_time = [80.0, 50.0, 60.0, 30.0, 90.0, 85.0]  # oldest first
        ids = {}
        for n, percentage in reversed(list(enumerate(by_time))):  # the newest made first
            started = now - timedelta(hours=12 - n)
            attempt = inst.start_attempt(exam, student, started_at=started)
            inst.complete_attempt(
                attempt, percentage=percentage, completed_at=started + timedelta(minutes=30)
            )
            ids[n] = str(attempt)
        assert r.cycle().sources_ok
        alerted = {alert["key"] for alert in r.alerts("score-dropped")}
        assert alerted == {ids[1], ids[3]}  # 80 -> 50 and 60 -> 30
