"""`notifier migrate-store --to postgresql://...` (contract section 12): a running SQLite
setup is switched over to two PostgreSQL replicas without a lost or repeated alert, its
queued, retrying, dead and sent deliveries keeping their state; refused while the SQLite
notifier runs and when the target already holds state."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from notifier.sandbox.smtp_standin import free_port
from notifier.sandbox.standins import WebhookReceiver
from tests.e2e import Harness, fail_attempts, open_harness
from tests.waiting import wait_logged

RULES = """\
channels:
  lms:
    type: webhook
    url: ${LMS_URL}
    secret: ${LMS_SECRET}
  archive:
    type: webhook
    url: ${ARCHIVE_URL}

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [lms, archive]
"""


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    # The archive is down while SQLite runs: its deliveries are retrying when we switch.
    env = {
        "ARCHIVE_URL": f"http://127.0.0.1:{free_port()}/down",
        "NOTIFIER_POLL_INTERVAL": "0.3",
        "NOTIFIER_RETRY_INITIAL_SECONDS": "30",
    }
    with open_harness(tmp_path, seed=9, rules=RULES, extra_env=env) as harness:
        yield harness


def test_a_running_sqlite_setup_switches_to_two_postgres_replicas_losing_and_repeating_nothing(
    h: Harness, pg_url: str
) -> None:
    sqlite_run = h.start(log=h.tmp / "sqlite.log")
    try:
        wait_logged(
            lambda: "attempts" in h.status(starting=True)["sources"], 30, "the baseline", h.logs
        )
        before = fail_attempts(h.sandbox.institute, 15, "before")
        wait_logged(lambda: len(h.webhook.received) >= 15, 30, "the first alerts", h.logs)
        wait_logged(
            lambda: h.status()["deliveries"]["retrying"] == 15, 30, "archive retries", h.logs
        )
        refused = h.notifier("migrate-store", "--to", pg_url)
        assert refused.returncode == 2
        assert "already running" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        sqlite_run.send_signal(signal.SIGTERM)
        sqlite_run.wait(timeout=30)
    assert sqlite_run.returncode == 0

    # Completed while nothing runs: the replicas must find them from the copied cursor.
    between = fail_attempts(h.sandbox.institute, 10, "between")
    on_sqlite = h.status()
    password = urlsplit(pg_url).password or ""
    moved = h.notifier("migrate-store", "--to", pg_url)
    assert moved.returncode == 0, moved.stderr
    assert password not in moved.stdout + moved.stderr and "***" in moved.stdout
    assert "outbox 30" in moved.stdout and "seen" in moved.stdout

    again = h.notifier("migrate-store", "--to", pg_url)
    assert again.returncode == 2 and "already holds notifier state" in again.stderr
    assert password not in again.stderr

    archive = WebhookReceiver()
    with archive:
        h.extra_env.update({"NOTIFIER_DB": pg_url, "ARCHIVE_URL": archive.url})
        assert h.status()["deliveries"] == on_sqlite["deliveries"]  # every status kept
        assert h.status()["sources"] == on_sqlite["sources"]
        replicas = [h.start(log=h.tmp / "pg-a.log"), h.start(log=h.tmp / "pg-b.log")]
        try:
            every = before | between

            def keys(receiver: WebhookReceiver) -> Counter[str]:
                return Counter(
                    a["key"] for r in receiver.received if r.status < 300 for a in r.json["alerts"]
                )

            wait_logged(lambda: set(keys(h.webhook)) == every, 60, "the lms alerts", h.logs)
            # Retrying rows keep their next try (30 s on): replay would be the admin's
            # move; here the test moves the clock by making them due now.
            import psycopg

            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("UPDATE outbox SET next_at = 0 WHERE status = 'retrying'")
            wait_logged(lambda: set(keys(archive)) == every, 60, "the archive alerts", h.logs)
            after = fail_attempts(h.sandbox.institute, 5, "after")
            wait_logged(
                lambda: set(keys(h.webhook)) == every | after, 30, "alerts after the move", h.logs
            )
        finally:
            for proc in replicas:
                proc.send_signal(signal.SIGTERM)
            for proc in replicas:
                proc.wait(timeout=30)
        lms = keys(h.webhook)
        assert all(n == 1 for n in lms.values()), lms  # nothing repeated ...
        assert set(lms) == before | between | after  # ... nothing lost
        assert all(n == 1 for n in keys(archive).values())
        assert set(keys(archive)) >= every


def test_migrate_store_refuses_a_missing_store_and_a_non_postgres_target(tmp_path: Path) -> None:
    env_db = tmp_path / "none.db"
    done = subprocess.run(
        [sys.executable, "-m", "notifier", "migrate-store", "--to", "sqlite.db"],
        cwd=tmp_path,
        env={"NOTIFIER_DB": str(env_db), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--to: must be a PostgreSQL URL" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "notifier", "migrate-store", "--to", "postgresql://u:pw@h/db"],
        cwd=tmp_path,
        env={"NOTIFIER_DB": str(env_db), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no SQLite state store" in done.stderr
    assert not env_db.exists()


def test_every_table_is_copied_and_the_copy_goes_on_where_sqlite_stopped(
    tmp_path: Path, pg_url: str
) -> None:
    """Table by table: the inbox (its ids too, so the next webhook gets a new one),
    history, activity, state, meta; an outbox row's status, attempts and next try."""
    from notifier.commands.migrate_store import migrate_store
    from notifier.events import Kept
    from notifier.state import NewDelivery, SqliteStore, open_store

    lite = SqliteStore(tmp_path / "n.db")
    alerts = [{"event": "attempt.completed", "key": "1", "data": {}, "reasons": []}]
    kept = Kept("attempt.completed", "1", 1000.0, "7", "Exam", {"score": 1.0})
    lite.seen.record(
        "attempts",
        ["1"],
        [NewDelivery("r", "lms", "attempt.completed", "1", alerts)],
        baseline=True,
        state={"cursor": {"n": 1}},
        now=1000.0,
        history=[kept],
    )
    (row,) = lite.outbox.claim_due(1000.0, 300)
    lite.outbox.mark_failed(row.id, now=1001.0, next_at=5000.0, error="HTTP 503")
    ids = lite.inbox.inbox_add([("exam", "{}"), ("exam", "{}")], 1000.0)
    lite.inbox.inbox_done(ids[:1], 1001.0)
    from notifier.state.actions_base import FollowUpRecord, MuteRecord

    mute = MuteRecord("mute_1", "7", None, None, 9000.0, "admin", "leave", "cli", 1000.0)
    lite.mutes.add(mute)
    lite.follow_ups.claim(FollowUpRecord(row.id, "U1", "Asha", 1002.0, "slack", "r", "lms"))
    lite.audit.add("admin", "cli", "mute", "mute_1", "student 7", at=1000.0)
    lite.close()

    copied = migrate_store(str(tmp_path / "n.db"), pg_url)
    assert copied["outbox"] == 1 and copied["inbox"] == 2 and copied["history"] == 1
    pg = open_store(pg_url)
    try:
        assert pg.seen.has_baseline("attempts") and pg.seen.unseen("attempts", ["1", "2"]) == {"2"}
        assert pg.sources.get_state("attempts", "cursor") == {"n": 1}
        (moved,) = list(pg.outbox.deliveries())
        assert (moved["status"], moved["attempts"], moved["next_at"]) == ("retrying", 1, 5000.0)
        assert pg.outbox.claim_due(4999.0, 300) == [] and len(pg.outbox.claim_due(5000.0, 300)) == 1
        assert [r.id for r in pg.inbox.inbox_pending(2000.0)] == ids[1:]
        new = pg.inbox.inbox_add([("exam", "{}")], 2000.0)
        assert new[0] > max(ids)  # the sequence went on past the copied ids
        assert [k.key for k in pg.history.history("attempt.completed", ["7"], 0)] == ["1"]
        assert [a.user_id for a in pg.history.activities(0)] == ["7"]
        assert pg.mutes.active(2000.0) == [mute]
        assert pg.follow_ups.get(row.id) is not None
        pg.audit.add("admin", "cli", "unmute", "mute_1", "student 7", at=2000.0)
        assert [e.action for e in pg.audit.recent()] == ["unmute", "mute"]
        assert len({e.id for e in pg.audit.recent()}) == 2  # the sequence went on
    finally:
        pg.close()
