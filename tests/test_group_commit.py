"""Group commit of delivery outcomes (issue 22): the outcomes workers hand in while
another is being written go in one transaction, and that does not widen the contract's
duplicate bound ("Once": at most NOTIFIER_DELIVERY_CONCURRENCY sends per channel made
again after a kill), because a send whose outcome waits in a batch still holds its
worker.

The kill test runs the real Deliverer in a child process (this file, run as a module)
and SIGKILLs it from inside the transaction of a batch of several outcomes, after their
rows were written and before the commit: the worst moment for batching."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from notifier.channels.base import Notification, Outcome
from notifier.delivery.commit import GroupCommit
from notifier.delivery.deliverer import Deliverer, RetryPolicy
from notifier.state import DeliveryStore, NewDelivery, SentRow, SqliteStore, Store, sqlite_outbox
from notifier.state.sqlite_outbox import SqliteOutbox
from tests.kit import RecordingChannel
from tests.waiting import wait_until

CONCURRENCY = 4
CHANNELS = ("lms", "archive")
ROWS = 40  # per channel
EVENT = "attempt.completed"


def _logging_channel(name: str, log: Path) -> RecordingChannel:
    """A channel whose every send is appended to `log` ("channel id") before it
    answers: what the far end received, kept across a SIGKILL."""

    def sent(n: Notification) -> Outcome:
        with log.open("a") as out:
            out.write(f"{name} {n.id}\n")
        return Outcome.sent()

    return RecordingChannel(name, outcome=sent)


def _child(db: Path, log: Path, batch_file: Path) -> None:
    """Deliver the queued rows; the first outcome's write waits until three more
    outcomes are handed in, so the next one is a batch; SIGKILL inside that batch's
    statement (its sent outcomes are one, `Outbox.mark_sent_each`), some of its rows
    already written, before it commits."""
    channels = {name: _logging_channel(name, log) for name in CHANNELS}
    store = SqliteStore(db)
    deliverer = Deliverer(store, channels, concurrency=CONCURRENCY, policy=RetryPolicy())
    commits = deliverer.record.commits
    real_mark = SqliteOutbox.mark_sent_each

    def mark_sent_each(outbox: SqliteOutbox, sent: Sequence[SentRow]) -> None:
        if commits.batches == 0:  # hold the first write until others are waiting
            wait_until(lambda: commits.waiting() >= 3, message="outcomes handed in")
        if len(sent) >= 2:
            conn, changes = outbox.db.conn, outbox.db.conn.total_changes

            def kill_once_a_row_is_written() -> int:
                if conn.total_changes - changes >= 2:  # a row and its try, uncommitted
                    batch_file.write_text(str(len(sent)))
                    os.kill(os.getpid(), signal.SIGKILL)
                return 0

            conn.set_progress_handler(kill_once_a_row_is_written, 10)
        real_mark(outbox, sent)

    SqliteOutbox.mark_sent_each = mark_sent_each  # type: ignore[method-assign]
    deliverer.run_pass()
    sys.exit("no batch of several outcomes was written")


def _sent_rows(db: Path) -> set[str]:
    store = SqliteStore(db)
    try:
        return {row["id"] for row in store.outbox.deliveries("sent")}
    finally:
        store.close()


def test_a_kill_inside_a_batch_of_outcomes_makes_again_at_most_the_sends_in_flight(
    tmp_path: Path,
) -> None:
    db, log, batch_file = tmp_path / "n.db", tmp_path / "sent.log", tmp_path / "batch"
    store = SqliteStore(db)
    store.seen.record(
        "attempts",
        [],
        [
            NewDelivery("r", channel, EVENT, f"{channel}-{i}", [{"event": EVENT, "key": str(i)}])
            for channel in CHANNELS
            for i in range(ROWS)
        ],
        now=time.time() - 1,
    )
    store.close()

    child = subprocess.run(
        [sys.executable, "-m", "tests.test_group_commit", str(db), str(log), str(batch_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    batch = int(batch_file.read_text())
    assert batch >= 2  # the outcomes handed in while the first was written, together

    made = [line.split() for line in log.read_text().splitlines()]
    recorded = _sent_rows(db)
    unrecorded = Counter(channel for channel, id_ in made if id_ not in recorded)
    # The whole batch was lost with the kill (one transaction), and each channel's
    # sends in flight or waiting in it were never more than its workers.
    assert sum(unrecorded.values()) >= batch
    assert all(n <= CONCURRENCY for n in unrecorded.values()), unrecorded

    # A restart (`notifier run` releases the dead process's claims) sends the rest.
    store = SqliteStore(db)
    store.outbox.release_all_claims()
    channels = {name: _logging_channel(name, log) for name in CHANNELS}
    deliverer = Deliverer(store, channels, concurrency=CONCURRENCY, policy=RetryPolicy())
    try:
        deliverer.run_pass()
    finally:
        deliverer.close()
    assert store.outbox.delivery_counts()["sent"] == ROWS * len(CHANNELS)
    store.close()
    arrivals = Counter(tuple(line.split()) for line in log.read_text().splitlines())
    assert len(arrivals) == ROWS * len(CHANNELS)  # every delivery arrived
    duplicates = Counter(channel for (channel, _), n in arrivals.items() for _ in range(n - 1))
    assert all(n <= CONCURRENCY for n in duplicates.values()), duplicates
    assert sum(duplicates.values()) == sum(unrecorded.values())  # exactly those made again


def _queued(store: Store, keys: str) -> dict[str, str]:
    """One claimed row per key: event key -> row id."""
    store.seen.record(
        "attempts",
        [],
        [NewDelivery("r", "lms", EVENT, k, [{"event": EVENT, "key": k}]) for k in keys],
        now=time.time() - 1,
    )
    return {row.event_key: row.id for row in store.outbox.claim_due(time.time(), 300)}


def _three_while_one_is_written(
    store: Store, commits: GroupCommit[Any], rows: dict[str, str], others: Sequence[str]
) -> dict[str, object]:
    """Worker "0" writes its outcome and holds its transaction until the three
    `others` have handed theirs in (the worst moment for batching); a key "bad"
    cannot be stored. Each key -> what `commits.write` returned, or its error's text."""
    first_written, got = threading.Event(), {}

    def sent(key: str) -> Callable[[DeliveryStore], None]:
        def write(handle: DeliveryStore) -> None:
            if key == "bad":
                raise ValueError("this outcome cannot be stored")
            handle.outbox.mark_sent([rows[key]], time.time(), answer="204")
            if key == "0":  # hold the first transaction until the others are waiting
                first_written.set()
                wait_until(lambda: commits.waiting() == 3, message="three outcomes handed in")

        return write

    def worker(key: str) -> None:
        handle = store.for_thread()
        try:
            got[key] = commits.write(handle, sent(key))
        except ValueError as exc:
            got[key] = str(exc)
        finally:
            handle.close()

    first = threading.Thread(target=worker, args=("0",))
    first.start()
    first_written.wait(timeout=10)
    threads = [threading.Thread(target=worker, args=(key,)) for key in others]
    for thread in threads:
        thread.start()
    for thread in [first, *threads]:
        thread.join(timeout=30)
    return got


@pytest.mark.parametrize("third", ["3", "bad"])
def test_outcomes_handed_in_together_commit_as_one_and_a_failing_one_fails_alone(
    store: Store, third: str
) -> None:
    """Three outcomes handed in while a fourth is written are written in one
    transaction; when one of them cannot be written, the other two are still kept (each
    written again alone) and only its own worker is told."""
    rows = _queued(store, "0123")
    commits: GroupCommit[Any] = GroupCommit(threading.Lock())
    got = _three_while_one_is_written(store, commits, rows, ("1", third, "2"))
    errors = {key: text for key, text in got.items() if isinstance(text, str)}
    sent_now = {row["event_key"] for row in store.outbox.deliveries("sent")}
    tries = [t["outcome"] for key in sent_now for t in store.console.tries(rows[key])]
    if third == "bad":
        assert errors == {"bad": "this outcome cannot be stored"}
        assert sent_now == {"0", "1", "2"}
        # The first alone; the batch of three failed on "bad", so 1 and 2 went alone.
        assert (commits.batches, commits.outcomes) == (3, 3)
    else:
        assert errors == {}
        assert sent_now == {"0", "1", "2", "3"}
        assert (commits.batches, commits.outcomes) == (2, 4)  # the first, then three as one
    assert tries == ["sent"] * len(sent_now)  # each row's try kept with its outcome


def test_the_leader_reads_once_for_its_batch_after_writing_it(store: Store) -> None:
    """Once a batch is written, its leader makes one read (the mutes, in the deliverer)
    and every worker of the batch gets it back: a read that sees the batch's writes.
    A failing read is no outcome's failure: the workers get None and read themselves."""
    rows = _queued(store, "01234")
    reads: list[int] = []

    def read(handle: DeliveryStore) -> int:
        if len(reads) == 2:
            raise sqlite3.OperationalError("disk I/O error")
        reads.append(len(list(handle.outbox.deliveries("sent"))))
        return reads[-1]

    commits = GroupCommit(threading.Lock(), read)
    got = _three_while_one_is_written(store, commits, rows, "123")
    assert got == {"0": 1, "1": 4, "2": 4, "3": 4}  # each read after its batch was written
    assert reads == [1, 4]  # one read a batch
    handle = store.for_thread()
    try:  # the read fails: the outcome is still written, nothing read for it
        got["4"] = commits.write(handle, lambda h: h.outbox.mark_sent([rows["4"]], time.time()))
    finally:
        handle.close()
    assert got["4"] is None
    assert len(list(store.outbox.deliveries("sent"))) == 5


if __name__ == "__main__":
    _child(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))


def test_sent_outcomes_written_together_keep_each_ones_time_ref_and_try(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group commit's usual batch (sent outcomes, one row each) is written by one
    call: each row gets its own time, the receiver's id and its try, and a batch of
    more rows than one statement takes is still written whole."""
    monkeypatch.setattr(sqlite_outbox, "SENT_PER_STATEMENT", 2)  # 5 rows: 3 statements
    store.seen.record(
        "attempts",
        [],
        [NewDelivery("r", "lms", EVENT, k, [{"event": EVENT, "key": k}]) for k in "012345"],
        now=time.time() - 1,
    )
    rows = {row.event_key: row.id for row in store.outbox.claim_due(time.time(), 300)}
    sent = [(rows[k], 1000.0 + int(k), f'{{"id": "m{k}"}}', f"20{k}") for k in "01234"]
    store.outbox.mark_sent_each(sent)
    by_key = {row["event_key"]: row for row in store.outbox.deliveries()}
    for k in "01234":
        row = by_key[k]
        assert (row["status"], row["sent_at"], row["attempts"]) == ("sent", 1000.0 + int(k), 1)
        assert store.outbox.message_ref(rows[k]) == f'{{"id": "m{k}"}}'
        assert [(t["outcome"], t["answer"]) for t in store.console.tries(rows[k])] == [
            ("sent", f"20{k}")
        ]
    assert by_key["5"]["status"] == "queued"  # not in the batch: untouched
    assert store.console.tries(rows["5"]) == []
