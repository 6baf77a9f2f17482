"""Graceful stop (contract section 2, `notifier run`): SIGTERM or SIGINT finishes the
sends in hand, gives back the rest, and exits 0 within a few seconds; nothing is left
claimed, and a restart delivers the rest exactly once."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import Harness, open_harness, sqlite_rows
from tests.waiting import wait_until

RULES = """\
channels:
  lms:
    type: webhook
    url: ${LMS_URL}
  terminal:
    type: console

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [lms, terminal]
"""
ATTEMPTS = 60


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    env = {"NOTIFIER_POLL_INTERVAL": "0.2", "NOTIFIER_DELIVERY_CONCURRENCY": "1"}
    # The receiver's delay: a pass takes ~3 s, time to stop in it.
    with open_harness(
        tmp_path, seed=7, rules=RULES, signed=False, delay=0.05, extra_env=env
    ) as harness:
        yield harness


def _backlog(h: Harness) -> None:
    inst = h.sandbox.institute
    exam = inst.add_exam(title="Chemistry Mock")
    user = inst.add_user(name="Asha Verma", email="asha@school.example")
    assert h.notifier("run", "--once").returncode == 0  # baseline
    for _ in range(ATTEMPTS):
        inst.complete_attempt(inst.start_attempt(exam, user), result="Fail")


def _claimed(db: Path) -> int:
    [(count,)] = sqlite_rows(db, "SELECT COUNT(*) FROM outbox WHERE claimed_until IS NOT NULL")
    return int(count)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_a_delivery_pass_exits_0_soon_and_leaves_nothing_claimed(
    h: Harness, sig: signal.Signals
) -> None:
    _backlog(h)
    proc = h.start()
    wait_until(
        lambda: len(h.webhook.received) >= 5 or proc.poll() is not None,
        interval=0.01,
        message="5 sends of the pass",
    )
    assert proc.poll() is None
    stopped = time.monotonic()
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=10)
    took = time.monotonic() - stopped
    print(f"\nstopped {took:.2f} s after {sig.name}, {len(h.webhook.received)} sent by then")
    assert proc.returncode == 0, stderr[-2000:]
    assert took < 5
    assert "Traceback" not in stderr
    assert _claimed(h.db) == 0
    counts = json.loads(h.notifier("status", "--json").stdout)["deliveries"]
    assert counts["queued"] > 0  # the stop came mid-pass: the rest waits, unclaimed

    assert h.notifier("run", "--once").returncode == 0
    ids = Counter(r.json["id"] for r in h.webhook.received)
    assert len(ids) == ATTEMPTS
    assert max(ids.values()) == 1  # a graceful stop doubles nothing


def test_a_signal_while_starting_up_still_exits_0(h: Harness) -> None:
    _backlog(h)
    proc = h.start()
    lock = Path(f"{h.db}.lock")
    wait_until(
        lambda: (
            proc.poll() is not None or (lock.exists() and lock.read_text().strip() == str(proc.pid))
        ),
        interval=0.002,
        message="the notifier to take the lock",
    )
    proc.send_signal(signal.SIGTERM)  # the lock is taken: opening the store, or polling
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr[-2000:]
    assert _claimed(h.db) == 0
