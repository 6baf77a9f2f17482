"""Crash safety (contract section 7, "Once" and "One copy"): the real `notifier run`
is killed with SIGKILL at many moments while it works through a backlog, restarted each
time, and in the end every (rule, key, channel) has arrived, with no more duplicates
than the sends that can be in flight when the process dies."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from notifier.delivery.deliverer import Deliverer, RetryPolicy
from notifier.sandbox.standins import WebhookReceiver
from notifier.state import NewDelivery, SqliteStore, delivery_id
from tests.e2e import Harness, open_harness, sqlite_rows
from tests.kit import RecordingChannel
from tests.waiting import poll, wait_until

SLOW: dict[Path, WebhookReceiver] = {}
EVENT = "attempt.completed"
ATTEMPTS = 220  # two pages of the attempts list
CHANNELS = ("lms", "archive", "office")

RULES = """\
channels:
  lms:
    type: webhook
    url: ${LMS_URL}
    secret: ${LMS_SECRET}
  archive:
    type: webhook
    url: ${SLOW_URL}
  office:
    type: email
    to: [office@school.example]

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [lms, archive, office]
"""


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The Harness, with a second, slow webhook receiver (`SLOW`) for the `archive`
    channel: each answer takes 30 ms, so kills land mid-send."""
    env = {"NOTIFIER_POLL_INTERVAL": "0.2", "NOTIFIER_DELIVERY_CONCURRENCY": "1"}
    with (
        WebhookReceiver(delay=0.03) as slow,
        open_harness(tmp_path, seed=5, rules=RULES, extra_env=env) as harness,
    ):
        harness.extra_env["SLOW_URL"] = slow.url
        SLOW[tmp_path] = slow
        yield harness


def _outbox_rows(db: Path) -> int:
    try:
        return int(sqlite_rows(db, "SELECT COUNT(*) FROM outbox")[0][0])
    except sqlite3.Error:
        return 0


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], limit: float) -> None:
    """Wait for a kill's moment, at most `limit` s (then the kill comes later than
    planned, which the test allows: this picks a moment, it asserts nothing)."""
    poll(lambda: proc.poll() is not None or condition(), timeout=limit, interval=0.005)


def _arrivals(h: Harness) -> Counter[tuple[str, str]]:
    """(delivery id, channel) of every request each receiver got, duplicates included."""
    got: Counter[tuple[str, str]] = Counter()
    for req in h.webhook.received:
        got[(req.json["id"], "lms")] += 1
    for req in SLOW[h.tmp].received:
        got[(req.json["id"], "archive")] += 1
    for mail in h.smtp.received:
        message_id = mail.message["Message-ID"]
        got[(message_id.removeprefix("<notifier.").partition("@")[0], "office")] += 1
    return got


def _kill_at(h: Harness, moment: str, rng: random.Random, log: Path) -> None:
    """Start `notifier run`, wait for `moment`, SIGKILL it."""
    requests_before = sum(h.sandbox.request_counts.values())
    slow = SLOW[h.tmp]
    slow_before = len(slow.received)
    proc = h.start(log=log)
    if moment == "poll":
        _wait_for(lambda: sum(h.sandbox.request_counts.values()) > requests_before, proc, 15)
    elif moment == "queued":
        _wait_for(lambda: _outbox_rows(h.db) > 0, proc, 15)
    elif moment == "send":
        n = rng.randint(2, 25)
        _wait_for(lambda: len(slow.received) >= slow_before + n, proc, 15)
    else:
        time.sleep(rng.uniform(0.5, 2.0))
    assert proc.poll() is None, log.read_text()[-3000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_sigkill_at_many_moments_loses_nothing_and_doubles_at_most_the_sends_in_flight(
    h: Harness,
) -> None:
    inst = h.sandbox.institute
    exam = inst.add_exam(title="Physics Final")
    users = [inst.add_user(name=f"Student {i}", email=f"s{i}@school.example") for i in range(20)]
    assert h.notifier("run", "--once").returncode == 0  # the baseline
    keys = []
    for i in range(ATTEMPTS):
        attempt = inst.start_attempt(exam, users[i % len(users)])
        inst.complete_attempt(attempt, result="Fail", score=float(i % 30))
        keys.append(str(attempt))
    expected = {
        (delivery_id("failed-exam", "attempt.completed", key, channel), channel)
        for key in keys
        for channel in CHANNELS
    }

    rng = random.Random(4)
    log = h.tmp / "run.log"
    # Each kill waits for its moment: the first API request of a start-up (polling),
    # the outbox filled (between enqueue and send), a number of sends reaching the slow
    # receiver (mid-send), or a plain delay.
    moments = ["poll", "queued", "send", "send", "poll", "send", "delay", "send"]
    moments += ["poll", "send", "delay", "send"]
    kills = []
    for moment in moments:
        _kill_at(h, moment, rng, log)
        kills.append(moment)

    for _ in range(5):  # restart and let it finish the backlog
        out = h.notifier("run", "--once")
        assert out.returncode == 0, out.stderr[-3000:]
        counts = json.loads(h.notifier("status", "--json").stdout)["deliveries"]
        if counts["queued"] == counts["retrying"] == 0:
            break
    assert counts == {"queued": 0, "retrying": 0, "dead": 0, "sent": len(expected), "muted": 0}

    arrivals = _arrivals(h)
    assert set(arrivals) == expected  # nothing lost, nothing unexpected
    duplicates = {
        channel: sum(n - 1 for (_, ch), n in arrivals.items() if ch == channel)
        for channel in CHANNELS
    }
    print(
        f"\n{len(kills)} kills ({', '.join(kills)}); {len(expected)} deliveries; "
        f"duplicates per channel {duplicates}, total {sum(duplicates.values())} "
        f"(bound {len(kills)} per channel, {len(kills) * len(CHANNELS)} in all)"
    )
    assert len(kills) >= 10
    assert all(n <= len(kills) for n in duplicates.values()), duplicates
    assert sum(duplicates.values()) <= len(kills) * len(CHANNELS)
    # The webhook receiver can de-duplicate: a resend carries the same webhook-id.
    assert all(r.verified for r in h.webhook.received)


def test_claims_of_a_dead_process_are_taken_again_after_the_lease(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "n.db")
    store.seen.record(
        "attempts",
        ["1", "2"],
        [
            NewDelivery(
                "r", "lms", "attempt.completed", k, [{"event": "attempt.completed", "key": k}]
            )
            for k in ("1", "2")
        ],
        now=1000.0,
    )
    claimed = store.outbox.claim_due(now=1000.0, lease_seconds=300)
    assert len(claimed) == 2  # ... and the process that claimed them dies here
    assert store.outbox.claim_due(now=1100.0, lease_seconds=300) == []  # the lease still runs

    channel = RecordingChannel("lms")
    deliverer = Deliverer(
        store, {"lms": channel}, concurrency=1, policy=RetryPolicy(), clock=lambda: 1301.0
    )
    result = deliverer.run_pass()
    deliverer.close()
    assert result.sent == 2
    assert sorted(n.alerts[0].key for n in channel.sent) == ["1", "2"]
    assert store.outbox.delivery_counts()["sent"] == 2
    store.close()


def test_start_up_releases_every_claim_so_in_flight_sends_are_made_again_at_once(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "n.db")
    store.seen.record(
        "attempts", ["1"], [NewDelivery("r", "lms", "attempt.completed", "1", [])], now=1000.0
    )
    assert len(store.outbox.claim_due(now=1000.0, lease_seconds=300)) == 1
    assert store.outbox.release_all_claims() == 1  # what `notifier run` does under the lock
    assert [row.event_key for row in store.outbox.claim_due(now=1001.0, lease_seconds=300)] == ["1"]
    store.close()


def test_sigkill_releases_the_single_instance_lock(h: Harness) -> None:
    proc = h.start(log=h.tmp / "run.log")
    try:
        lock = Path(f"{h.db}.lock")
        wait_until(
            lambda: (
                proc.poll() is not None
                or (lock.exists() and lock.read_text().strip() == str(proc.pid))
            ),
            message="the running notifier to take the lock",
        )
        assert proc.poll() is None, (h.tmp / "run.log").read_text()[-3000:]
        second = h.notifier("run", "--once")
        assert second.returncode == 2
        assert "already running" in second.stderr and str(proc.pid) in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    after = h.notifier("run", "--once")
    assert after.returncode == 0, after.stderr


def test_seen_marks_and_deliveries_are_written_in_one_transaction(tmp_path: Path) -> None:
    """A process dying while the outbox rows are written leaves the events unseen, so
    the next cycle finds and queues them again: never seen-but-not-queued."""
    store = SqliteStore(tmp_path / "n.db")

    def dies_midway() -> Iterator[NewDelivery]:
        yield NewDelivery("r", "lms", EVENT, "1", [{"event": EVENT, "key": "1"}])
        raise KeyboardInterrupt  # the process is interrupted here

    with pytest.raises(KeyboardInterrupt):
        store.seen.record(
            "attempts", ["1", "2"], dies_midway(), state={"cursor": {"x": 1}}, now=1.0
        )
    assert store.seen.unseen("attempts", ["1", "2"]) == {"1", "2"}
    assert store.outbox.delivery_counts()["queued"] == 0
    assert store.sources.get_state("attempts", "cursor") is None
    store.close()
