"""An outage of PostgreSQL longer than the replicas' alive window is not the death of
every replica (contract sections 7 and 12): when the database is back, no replica
gives back another's claims while that one beats again, so a send made during the
outage is recorded by the replica that made it and never made twice; a replica that
really stopped beating still has its claims given back. A cluster of its own, so
stopping it disturbs no other test."""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg

from notifier.state import NewDelivery
from notifier.state.postgres import PostgresStore
from notifier.state.postgres_replicas import Heartbeat
from tests import pg
from tests.waiting import wait_until

POLL = 1.0  # lease 10 s, beat 2.5 s: the contract's 30 s bound


def _claimed_by(store: PostgresStore) -> dict[str, str | None]:
    rows = store.db().execute("SELECT id, claimed_by FROM outbox").fetchall()
    return {row[0]: row[1] for row in rows}


def test_an_outage_longer_than_the_alive_window_gives_back_only_the_dead_claims(
    pg_cluster: pg.Cluster,
) -> None:
    url = pg.create_database(pg_cluster.url())
    setup = PostgresStore(url, replica="setup")
    a, b, gone = (PostgresStore(url, replica=name) for name in ("a", "b", "gone"))
    now = time.time()
    setup.seen.record(
        "attempts",
        [],
        [NewDelivery("r", "ops", "attempt.completed", k, [{"key": k}]) for k in ("1", "2", "3")],
        now=now,
    )
    beats = [Heartbeat(s.for_thread(), POLL, poll=False).start() for s in (a, b)]
    gone.replicas.beat(beats[0].lease, want_poller=False)  # beats once, then never again
    [sending] = a.outbox.claim_due(now, 300, limit_per_channel=1)  # a is sending it
    [mine] = b.outbox.claim_due(now, 300, limit_per_channel=1)  # and b this one
    [theirs] = gone.outbox.claim_due(now, 300, limit_per_channel=1)
    try:
        pg_cluster.stop()
        down = time.monotonic()
        while time.monotonic() - down < beats[0].lease + 3:  # every row runs out
            time.sleep(0.2)
        pg_cluster.start()
        pg.wait_until_answers(url)
        for s in (setup, a, b):  # a broken connection fails one call, then reconnects
            with contextlib.suppress(psycopg.Error):
                s.db().execute("SELECT 1")
        wait_until(
            lambda: _claimed_by(setup)[theirs.id] is None,
            timeout=40,
            interval=0.05,
            message="the dead one's claim back",
        )
        live = {r["id"] for r in setup.replicas.replicas_status()["live"]}
        assert live == {"a", "b"}
        # Neither live replica's claim was given back, whichever beat first.
        assert _claimed_by(setup) == {sending.id: "a", mine.id: "b", theirs.id: None}
        assert [r.id for r in a.outbox.claim_due(time.time(), 300)] == [theirs.id]
        a.outbox.mark_sent([sending.id], time.time())  # each records the send it made
        b.outbox.mark_sent([mine.id], time.time())
        assert setup.outbox.delivery_counts()["sent"] == 2
    finally:
        for h in beats:
            h.stop()
        for s in (setup, a, b, gone):
            s.close()


def test_a_send_made_as_the_database_goes_away_is_recorded_once_it_is_back(
    pg_cluster: pg.Cluster,
) -> None:
    from notifier.channels.base import Notification, Outcome
    from notifier.delivery.deliverer import Deliverer, RetryPolicy
    from tests.kit import RecordingChannel

    url = pg.create_database(pg_cluster.url())
    store = PostgresStore(url, replica="r1")
    alert = {"event": "attempt.completed", "key": "1", "data": {"id": 1}, "reasons": []}
    store.seen.record("attempts", [], [NewDelivery("r", "ops", "attempt.completed", "1", [alert])])
    restarted = threading.Event()

    def sent_then_outage(n: Notification) -> Outcome:
        pg_cluster.stop()  # the message went out; the database is away before it is recorded

        def back() -> None:
            time.sleep(3)
            # Set before the start: the worker's next try may record the send the moment
            # the server is up, before this thread runs again (a race under load).
            restarted.set()
            pg_cluster.start()

        threading.Thread(target=back).start()
        return Outcome.sent()

    channel = RecordingChannel("ops", outcome=sent_then_outage)
    deliverer = Deliverer(store, {"ops": channel}, concurrency=1, policy=RetryPolicy())
    try:
        # The pass returns once the send is recorded; its next claim may fail on the
        # main connection, broken by the outage (the next pass reconnects).
        with contextlib.suppress(psycopg.Error):
            deliverer.run_pass()
        assert restarted.is_set()
        assert len(channel.sent) == 1
        with contextlib.suppress(psycopg.Error):  # the main connection broke in the outage
            store.db().execute("SELECT 1")
        assert store.outbox.delivery_counts()["sent"] == 1
        deliverer.run_pass()
        assert len(channel.sent) == 1  # never sent twice
    finally:
        deliverer.close()
        store.close()
