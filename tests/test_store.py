"""The state store's behaviour, the same on both backends (the `store` and `db` fixtures
run each test on SQLite and on a real PostgreSQL): what the delivery guarantees rest on.
PostgreSQL-only behaviour (several replicas on one database) is at the end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.state import NewDelivery, Store, open_store
from notifier.state.migrations import SCHEMA_VERSION
from tests.waiting import wait_until

NOW = 1_790_000_000.0


def _deliveries(keys: range | list[int], channel: str = "lms", **kw: Any) -> list[NewDelivery]:
    return [
        NewDelivery(
            "failed-exam",
            channel,
            "attempt.completed",
            str(k),
            [{"event": "attempt.completed", "key": str(k), "data": {"id": k}, "reasons": []}],
            **kw,
        )
        for k in keys
    ]


def test_a_cycle_is_recorded_once_and_never_queues_an_alert_twice(store: Store) -> None:
    assert not store.seen.has_baseline("attempts")
    added = store.seen.record(
        "attempts",
        ["1", "2"],
        _deliveries([1, 2]),
        baseline=True,
        state={"cursor": {"last": 5}},
        now=NOW,
    )
    assert added == 2
    assert store.seen.has_baseline("attempts")
    assert store.sources.get_state("attempts", "cursor") == {"last": 5}
    assert store.seen.unseen("attempts", ["1", "2", "3", "3"]) == {"3"}
    assert store.seen.unseen("content_attempts", ["1"]) == {"1"}  # seen marks are per source
    # The same (rule, key, channel) again, as an overlapping poll would: not queued twice.
    assert store.seen.record("attempts", ["2", "3"], _deliveries([2, 3]), now=NOW + 1) == 1
    assert store.outbox.delivery_counts() == {
        "queued": 3,
        "retrying": 0,
        "sent": 0,
        "dead": 0,
        "muted": 0,
    }
    assert store.seen.unseen("attempts", []) == set()


def test_seen_keys_are_counted_by_prefix(store: Store) -> None:
    keys = ["list:a:1", "list:a:2", "list:a~", "list:b:1", "list:A:1", "list:a:\u00e9", "x"]
    store.seen.record("attempts", keys, [], now=NOW)
    store.seen.record("content_attempts", ["list:a:9"], [], now=NOW)
    assert store.seen.count_seen("attempts", "list:a:") == 3  # bytewise, whatever the locale
    assert store.seen.count_seen("attempts", "list:") == 6
    assert store.seen.count_seen("attempts", "") == 7
    assert store.seen.count_seen("attempts", "none") == 0


def test_claims_are_oldest_first_per_channel_and_never_given_twice(store: Store) -> None:
    store.seen.record("attempts", [], _deliveries(range(5), "lms"), now=NOW)
    store.seen.record("attempts", [], _deliveries(range(5), "slack"), now=NOW + 1)
    store.seen.record("attempts", [], _deliveries([99], "lms", not_before=NOW + 60), now=NOW)
    first = store.outbox.claim_due(NOW + 2, lease_seconds=30, limit_per_channel=3)
    assert [(r.channel, r.event_key) for r in first] == [
        ("lms", "0"), ("lms", "1"), ("lms", "2"), ("slack", "0"), ("slack", "1"), ("slack", "2"),
    ]  # fmt: skip
    assert first[0].alerts[0]["data"] == {"id": 0} and first[0].attempts == 0
    second = store.outbox.claim_due(NOW + 2, lease_seconds=30)
    assert sorted(r.event_key for r in second) == ["3", "3", "4", "4"]  # not the claimed, not 99
    assert store.outbox.claim_due(NOW + 2, lease_seconds=30) == []
    store.outbox.release([first[0].id])  # a stop gives it back: due again at once
    assert [r.id for r in store.outbox.claim_due(NOW + 3, lease_seconds=30)] == [first[0].id]
    # A claim whose process died runs out with its lease.
    later = store.outbox.claim_due(NOW + 40, lease_seconds=30)
    assert len(later) == 10
    assert [r.event_key for r in store.outbox.claim_due(NOW + 61, 30)] == [
        "99"
    ]  # due at not_before


def test_outcomes_retries_dead_and_replay(store: Store) -> None:
    store.seen.record("attempts", [], _deliveries(range(3)), now=NOW)
    a, b, c = store.outbox.claim_due(NOW, 30)
    store.outbox.mark_sent([a.id], NOW + 1)
    store.outbox.mark_failed(b.id, now=NOW + 1, next_at=NOW + 10, error="HTTP 503")
    store.outbox.mark_failed_many([c.id], now=NOW + 1, next_at=None, error="HTTP 410 " + "x" * 900)
    assert store.outbox.delivery_counts() == {
        "queued": 0,
        "retrying": 1,
        "sent": 1,
        "dead": 1,
        "muted": 0,
    }
    assert store.outbox.claim_due(NOW + 5, 30) == []  # retrying, not due yet
    (retry,) = store.outbox.claim_due(NOW + 10, 30)
    assert (retry.id, retry.status, retry.attempts) == (b.id, "retrying", 1)
    (dead,) = list(store.outbox.deliveries("dead"))
    assert dead["id"] == c.id and dead["last_error"].startswith("HTTP 410")
    assert len(dead["last_error"]) == 500 and dead["attempts"] == 1
    (sent,) = list(store.outbox.deliveries("sent"))
    assert sent["sent_at"] == NOW + 1
    assert {row["id"] for row in store.outbox.deliveries()} == {a.id, b.id, c.id}
    assert store.outbox.replay(["msg_unknown", a.id], NOW + 20) == 0  # only dead ones replay
    assert store.outbox.replay(None, NOW + 20) == 1
    (again,) = store.outbox.claim_due(NOW + 20, 30)
    assert (again.id, again.attempts, again.status) == (c.id, 0, "queued")


def test_groups_know_their_pending_rows_and_last_send(store: Store) -> None:
    rows = _deliveries([1, 2], group="g1", not_before=NOW + 300)
    store.seen.record("attempts", [], rows, now=NOW)
    assert store.outbox.pending_group("failed-exam", "lms", "g1") == NOW + 300
    assert store.outbox.pending_group("failed-exam", "lms", "other") is None
    assert store.outbox.last_group_send("failed-exam", "lms", "g1") is None
    claimed = store.outbox.claim_due(NOW + 300, 30)
    assert {r.group_key for r in claimed} == {"g1"}
    store.outbox.mark_sent([r.id for r in claimed], NOW + 301)
    assert store.outbox.last_group_send("failed-exam", "lms", "g1") == NOW + 301


def test_source_status_keeps_the_last_success_across_failures(store: Store) -> None:
    store.sources.source_polled("attempts", ok=True, error=None, now=NOW)
    store.sources.source_polled("attempts", ok=False, error="HTTP 503", now=NOW + 60)
    store.sources.source_polled("conferences", ok=True, error="1 bad record", now=NOW)
    assert store.sources.source_statuses() == {
        "attempts": {"last_success": "2026-09-21T14:13:20+00:00", "last_error": "HTTP 503"},
        "conferences": {"last_success": "2026-09-21T14:13:20+00:00", "last_error": "1 bad record"},
    }
    store.sources.put_state(
        "lookups", {"user:1": {"name": "Asha"}, "exam:2": {"title": "T"}}, now=NOW
    )
    store.sources.put_state("lookups", {"user:1": {"name": "Asha Verma"}}, now=NOW)
    assert store.sources.get_state("lookups", "user:1") == {"name": "Asha Verma"}
    assert store.sources.get_state("lookups", "missing") is None
    store.meta.set_meta("rules_path", "rules.yaml")
    store.meta.set_meta("rules_path", "other.yaml")
    assert store.meta.get_meta("rules_path") == "other.yaml"
    assert store.meta.get_meta("schema_version") == str(SCHEMA_VERSION)


def test_pruning_forgets_only_what_no_poll_can_reach(store: Store) -> None:
    store.seen.record("attempts", ["old"], _deliveries([1, 2]), now=NOW)
    store.seen.record("attempts", ["new"], _deliveries([3]), now=NOW + 100)
    one, two = store.outbox.claim_due(NOW, 30)
    store.outbox.mark_sent([one.id], NOW)
    store.outbox.mark_failed(two.id, now=NOW, next_at=None, error="HTTP 404")
    store.sources.put_state("lookups", {"user:1": 1}, now=NOW)
    counts = store.meta.prune(seen_before=NOW + 50, sent_before=NOW + 50, dead_before=NOW - 1)
    assert counts == {"seen": 1, "sent": 1, "dead": 0, "cache": 0}
    assert store.seen.unseen("attempts", ["old", "new"]) == {"old"}
    assert store.outbox.delivery_counts() == {
        "queued": 1,
        "retrying": 0,
        "sent": 0,
        "dead": 1,
        "muted": 0,
    }


def test_a_thread_handle_shares_the_store_and_its_writes(store: Store) -> None:
    store.seen.record("attempts", [], _deliveries([1]), now=NOW)
    (row,) = store.outbox.claim_due(NOW, 30)
    other = store.for_thread()
    done = threading.Event()

    def worker() -> None:
        other.outbox.mark_sent([row.id], NOW + 1)
        done.set()

    threading.Thread(target=worker).start()
    assert done.wait(10)
    assert store.outbox.delivery_counts()["sent"] == 1
    other.close()


def test_reopening_keeps_everything_and_migrates_once(db: str) -> None:
    first = open_store(db)
    first.seen.record("attempts", ["1"], _deliveries([1]), baseline=True, now=NOW)
    first.close()
    again = open_store(db)
    assert again.meta.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert again.seen.has_baseline("attempts") and again.outbox.delivery_counts()["queued"] == 1
    again.meta.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    again.close()
    from notifier.settings import ConfigError

    with pytest.raises((ConfigError, RuntimeError), match="newer notifier"):
        open_store(db)


# -- PostgreSQL only: several replicas on one database ----------------------------------


def test_concurrent_claimers_split_a_backlog_without_overlap(pg_url: str) -> None:
    """Four replicas' workers claiming at once (FOR UPDATE SKIP LOCKED): every row
    claimed exactly once."""
    from notifier.state.postgres import PostgresStore

    setup = PostgresStore(pg_url)
    setup.seen.record("attempts", [], _deliveries(range(400)), now=NOW)
    claimed: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def claimer(n: int) -> None:
        mine = PostgresStore(pg_url, migrate=False)
        start.wait()
        while rows := mine.outbox.claim_due(NOW, 300, limit_per_channel=7):
            claimed[n].extend(r.id for r in rows)
            time.sleep(0.005)  # the sends take a while: the others claim meanwhile
        mine.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [i for ids in claimed for i in ids]
    assert len(every) == len(set(every)) == 400
    assert sum(1 for ids in claimed if ids) >= 2  # the work was actually shared
    setup.close()


def test_a_dead_replicas_claims_come_back_but_a_live_ones_never(pg_url: str) -> None:
    from notifier.state.postgres import PostgresStore

    alive, dying, fresh = (PostgresStore(pg_url, replica=n) for n in ("alive", "dying", "fresh"))
    alive.seen.record("attempts", [], _deliveries(range(4)), now=time.time())
    assert alive.replicas.beat(60, want_poller=False) is False
    assert dying.replicas.beat(0.2, want_poller=False) is False  # alive for 0.2 s only
    mine = alive.outbox.claim_due(time.time(), 300, limit_per_channel=2)
    theirs = dying.outbox.claim_due(time.time(), 300, limit_per_channel=2)
    assert len(mine) == len(theirs) == 2
    wait_until(  # the dying replica's heartbeat runs out (on the database's clock)
        lambda: "dying" not in {r["id"] for r in alive.replicas.replicas_status()["live"]},
        message="the dying replica's 0.2 s heartbeat to run out",
    )
    assert fresh.outbox.release_all_claims() == 2  # a starting replica frees only the dead's claims
    again = fresh.outbox.claim_due(time.time(), 300)
    assert {r.id for r in again} == {r.id for r in theirs}
    assert [r["id"] for r in alive.replicas.replicas_status()["live"]] == ["alive"]
    for s in (alive, dying, fresh):
        s.close()


def test_one_poller_at_a_time_and_a_takeover_once_its_lease_runs_out(pg_url: str) -> None:
    from notifier.state.postgres import PostgresStore

    a, b = PostgresStore(pg_url, replica="a"), PostgresStore(pg_url, replica="b")
    # Leases long enough that a loaded machine cannot let one run out between two lines.
    assert a.replicas.beat(60, want_poller=True) is True
    assert b.replicas.beat(60, want_poller=True) is False  # a holds it
    assert a.replicas.beat(60, want_poller=True) is True  # renewed
    assert b.replicas.replicas_status()["poller"] == "a"
    assert a.replicas.beat(0.2, want_poller=True) is True  # a's last renewal: then it died
    wait_until(  # its lease runs out (on the database's clock)
        lambda: b.replicas.replicas_status()["poller"] is None, message="a's 0.2 s lease to run out"
    )
    assert b.replicas.beat(30, want_poller=True) is True
    assert a.replicas.beat(30, want_poller=True) is False
    b.replicas.leave()  # a clean stop hands it over at once
    assert a.replicas.beat(30, want_poller=True) is True
    a.close()
    b.close()


def test_the_store_recovers_by_itself_when_its_connection_is_cut(pg_url: str) -> None:
    import psycopg

    from notifier.state.postgres import PostgresStore

    store = PostgresStore(pg_url)
    store.meta.set_meta("k", "v")
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'testpress-notifier' "
            "AND datname = current_database()"  # not another test's (a suite in parallel)
        )
    with pytest.raises(psycopg.OperationalError):
        store.meta.get_meta("k")  # the call in hand fails ...
    assert store.meta.get_meta("k") == "v"  # ... and the next one reconnects
    store.close()


def test_the_password_never_shows_in_errors(pg_url: str) -> None:
    from urllib.parse import urlsplit

    from notifier.settings import ConfigError

    password = urlsplit(pg_url).password or ""
    assert len(password) > 8
    wrong = pg_url.replace(f":{password}@", ":not-the-password-1234@")
    with pytest.raises(ConfigError) as failed:
        open_store(wrong)
    text = str(failed.value)
    assert "not-the-password-1234" not in text and password not in text
    assert "postgres:***@127.0.0.1" in text and "password authentication failed" in text
    store = open_store(pg_url)
    assert password not in repr(store)
    store.close()


def test_the_inbox_keeps_pushed_webhooks_until_processed(store: Store) -> None:
    ids = store.inbox.inbox_add([("exam", '{"attempt_id": 1}'), ("chapter-content", "{}")], NOW)
    assert len(ids) == 2 and ids[0] < ids[1]
    assert store.inbox.inbox_add([], NOW) == []
    first, second = store.inbox.inbox_pending(NOW)
    assert (first.id, first.kind, first.body, first.tries) == (
        ids[0],
        "exam",
        '{"attempt_id": 1}',
        0,
    )
    store.inbox.inbox_retry([first.id], now=NOW, next_at=NOW + 30, error="HTTP 503")
    store.inbox.inbox_done([second.id], NOW)
    assert store.inbox.inbox_pending(NOW + 29) == []  # waits for its next try
    (again,) = store.inbox.inbox_pending(NOW + 30)
    assert (again.id, again.tries) == (first.id, 1)
    store.inbox.inbox_done([again.id], NOW + 31, error="left to the poll")
    assert store.inbox.inbox_pending(NOW + 1e6) == []
    assert store.inbox.inbox_prune(NOW + 30.5) == 1  # only the one done before then
    assert store.inbox.inbox_prune(NOW + 32) == 1


def test_two_replicas_never_take_the_same_pushed_webhook(pg_url: str) -> None:
    from notifier.state.postgres import PostgresStore

    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    ids = a.inbox.inbox_add([("exam", f'{{"attempt_id": {i}}}') for i in range(10)], NOW)
    got_a = a.inbox.inbox_pending(NOW, limit=6)
    got_b = b.inbox.inbox_pending(NOW)
    assert sorted(r.id for r in got_a + got_b) == ids  # each row to one replica
    assert b.inbox.inbox_pending(NOW) == []
    # A replica that died mid-way: its rows are due again once their lease runs out.
    assert sorted(r.id for r in b.inbox.inbox_pending(NOW + 1000)) == ids
    a.close()
    b.close()


def test_a_cycle_interrupted_while_written_leaves_nothing_half_done(store: Store) -> None:
    """Never seen-but-not-queued: the seen marks, rows and cursor commit together."""

    def dies_midway() -> Iterator[NewDelivery]:
        yield from _deliveries([1])
        raise KeyboardInterrupt  # the process is interrupted here

    with pytest.raises(KeyboardInterrupt):
        store.seen.record(
            "attempts", ["1", "2"], dies_midway(), state={"cursor": {"x": 1}}, now=NOW
        )
    assert store.seen.unseen("attempts", ["1", "2"]) == {"1", "2"}
    assert store.outbox.delivery_counts()["queued"] == 0
    assert store.sources.get_state("attempts", "cursor") is None


def test_every_sqlite_table_has_a_postgres_twin_with_its_columns(
    tmp_path: Path, pg_url: str
) -> None:
    """A table added to the SQLite schema (a new migration) needs its PostgreSQL twin in
    notifier/state/postgres_schema.py, or replicas and migrate-store would miss it."""
    import sqlite3

    import psycopg

    from notifier.state.postgres_schema import PG_MIGRATIONS

    assert PG_MIGRATIONS[-1][0] == SCHEMA_VERSION
    open_store(str(tmp_path / "n.db")).close()
    open_store(pg_url).close()
    lite = sqlite3.connect(tmp_path / "n.db")
    tables = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    with psycopg.connect(pg_url) as conn:
        for table in tables:
            wanted = {r[1] for r in lite.execute(f'PRAGMA table_info("{table}")')}
            have = {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                    [table],
                )
            }
            assert wanted <= have, f"{table}: PostgreSQL lacks {wanted - have}"
    lite.close()


def test_history_keeps_each_event_and_each_students_latest_activity(store: Store) -> None:
    from notifier.events import Kept

    def kept(key: str, at: float, subject: str, **kw: Any) -> Kept:
        fields = {"score": float(key)}
        return Kept("attempt.completed", key, at, subject, f"Exam {key}", fields, **kw)

    batch = [
        kept("1", NOW, "7", student="Asha", email="ASHA@s.example"),
        kept("2", NOW + 10, "7", fired=("repeat-fail",)),
        kept("2", NOW + 10, "7"),  # the same event again in one batch: the later wins
        kept("3", NOW + 5, "8", student="Ravi"),
    ]
    store.seen.record("attempts", ["1", "2", "3"], [], history=batch, now=NOW)
    store.seen.record(
        "content_attempts", [], [], history=[kept("4", NOW + 20, "email:asha@s.example")]
    )
    got = store.history.history("attempt.completed", ["7"], NOW)
    assert [(k.key, k.at, k.fired) for k in got] == [("1", NOW, ()), ("2", NOW + 10, ())]
    assert got[0].fields == {"score": 1.0, "user_id": 7} and got[0].title == "Exam 1"
    every = store.history.history("attempt.completed", None, NOW + 1)
    assert [k.key for k in every] == ["3", "2", "4"]
    assert store.history.history_since() == NOW
    activity = {a.user_id: a for a in store.history.activities(NOW)}
    assert activity["7"].at == NOW + 20  # matched by email, later than its last attempt
    assert (activity["7"].student, activity["7"].email) == ("Asha", "asha@s.example")
    assert activity["8"].title == "Exam 3"
    counts = store.history.prune_history(before=NOW + 6, activity_before=NOW + 6)
    assert counts == {"history": 2, "activity": 1, "inactivity": 0}
    assert [k.key for k in store.history.history("attempt.completed", None, 0)] == ["2", "4"]
