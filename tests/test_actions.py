"""What people do to alerts (contract section 13), on both backends: a mute holds a
matching alert as `muted` (shown by status and /metrics, never sent by itself), ends
exactly at `until` on an injected clock, survives a reopened store and is honoured by
another store handle at once; the first follow-up wins across threads and handles;
follow-ups and mutes reach a webhook rule once as events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.actions.mutes import StoreMutes
from notifier.actions.service import Actions, UnknownDelivery, UnknownMute
from notifier.obs.metrics import Metrics
from notifier.state import OutboxRow, open_store
from tests.inprocess import Rig, rig

FAILED = """
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    notify: [hook]
"""

ACTIONS = (
    FAILED
    + """
  - name: followed-up
    event: alert.followed_up
    notify: [hook]
  - name: muted
    event: mute.created
    notify: [hook]
  - name: unmuted
    event: mute.ended
    notify: [hook]
"""
)

T0 = 1_900_000_000.0


def _row(id_: str, user_id: int, rule: str = "failed-exam", channel: str = "hook") -> OutboxRow:
    data = {"user_id": user_id, "email": f"s{user_id}@school.example", "student": f"S {user_id}"}
    alert = {"event": "attempt.completed", "key": id_, "data": data}
    return OutboxRow(id_, rule, channel, "attempt.completed", id_, [alert], "queued", 0, T0)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _fail(r: Rig, user: int, title: str) -> None:
    inst = r.sandbox.institute
    exam = inst.add_exam(title=title)
    at = datetime.fromtimestamp(r.clock(), UTC)
    inst.complete_attempt(inst.start_attempt(exam, user), result="Fail", score=1.0, completed_at=at)


def _statuses(r: Rig) -> dict[str, list[str]]:
    """Student name -> the statuses of their deliveries."""
    out: dict[str, list[str]] = {}
    for row in r.store.log.delivery_list():
        alert = json.loads(row["alerts"])[0]
        out.setdefault(alert["data"].get("student"), []).append(row["status"])
    return out


@pytest.fixture
def r(tmp_path: Path, db: str) -> Iterator[Rig]:
    with rig(tmp_path, ACTIONS, db=db) as built:
        built.cycle()  # the baseline
        yield built


def test_a_mute_holds_matching_alerts_until_its_end_and_replay_sends_one(r: Rig) -> None:
    assert r.actions is not None and r.metrics is not None
    inst = r.sandbox.institute
    asha = inst.add_user(name="Asha Verma", email="asha@school.example")
    ravi = inst.add_user(name="Ravi Kumar", email="ravi@school.example")
    mute = r.actions.mute(
        student="ASHA@school.example",  # by email, in any case
        rule="failed-exam",
        channel=None,
        duration=timedelta(hours=1),
        by="admin",
        reason="on leave",
        source="console",
    )
    _fail(r, asha, "Algebra")
    _fail(r, ravi, "Algebra")
    r.cycle()
    sent = [a["data"]["student"] for a in r.alerts("failed-exam")]
    assert sent == ["Ravi Kumar"]
    assert _statuses(r)["Asha Verma"] == ["muted"]
    assert r.store.outbox.delivery_counts()["muted"] == 1
    text = r.metrics.exposition()[0].decode()
    assert 'notifier_outbox_rows{status="muted"} 1.0' in text
    assert 'notifier_actions_total{action="mute",source="console"} 1.0' in text
    [held] = r.store.log.delivery_list(status="muted")
    assert held["last_error"] == f"muted by {mute.id}"

    r.clock.advance(3600 - 5)  # still inside the hour
    _fail(r, asha, "Biology")
    r.cycle()
    assert _statuses(r)["Asha Verma"] == ["muted", "muted"]
    r.clock.advance(5)  # exactly `until`: the mute has ended
    _fail(r, asha, "Chemistry")
    r.cycle()
    assert sorted(_statuses(r)["Asha Verma"]) == ["muted", "muted", "sent"]
    assert [a["data"]["student"] for a in r.alerts("failed-exam")] == ["Ravi Kumar", "Asha Verma"]

    # Never sent by itself; a person sends it (replay), and then it goes out.
    done = r.actions.replay([held["id"], "msg_nosuch"], by="admin", source="cli")
    assert done.queued == (held["id"],) and done.muted == (held["id"],)
    assert done.refused == {"msg_nosuch": "unknown"}
    r.cycle()
    assert r.store.log.delivery_statuses([held["id"]]) == {held["id"]: "sent"}
    assert len(r.alerts("failed-exam")) == 3
    assert r.store.outbox.delivery_counts()["muted"] == 1


def test_a_group_message_goes_out_without_its_muted_members(tmp_path: Path, db: str) -> None:
    grouped = FAILED.replace("notify: [hook]", "group_by: [exam_id]\n    notify: [hook]")
    with rig(tmp_path, grouped, db=db) as r:
        assert r.actions is not None
        r.cycle()
        inst = r.sandbox.institute
        users = [inst.add_user(name=n) for n in ("Asha Verma", "Ravi Kumar", "Mira Das")]
        r.actions.mute(
            student=str(users[0]),
            rule=None,
            channel="hook",
            duration=timedelta(days=1),
            by="admin",
            reason="",
            source="cli",
        )
        exam = inst.add_exam(title="Physics")
        at = datetime.fromtimestamp(r.clock(), UTC)
        for user in users:
            attempt = inst.start_attempt(exam, user)
            inst.complete_attempt(attempt, result="Fail", score=1.0, completed_at=at)
        r.cycle()
        r.clock.advance(3600)  # past any group window
        r.cycle()
        students = sorted(a["data"]["student"] for a in r.alerts("failed-exam"))
        assert students == ["Mira Das", "Ravi Kumar"]
        assert _statuses(r)["Asha Verma"] == ["muted"]
        # A click names the group's message by the id it went out with.
        [message] = [q.json["id"] for q in r.webhook.received if q.json["rule"] == "failed-exam"]
        facts = r.actions.delivery(message)
        assert sorted(facts.student_names) == ["Mira Das", "Ravi Kumar"]
        assert sorted(facts.students) == sorted(str(u) for u in users[1:])
        assert r.actions.follow_up(message, by="U1", by_name="T", source="slack").first
        assert r.actions.delivery(message).followed_up is not None


def _mute_student_7_for_30_minutes(store: Any, clock: Clock, source: str) -> Any:
    """Student 7 muted everywhere from `clock`'s now for 30 minutes, by "admin"."""
    return Actions(store, clock=clock, per_thread=False).mute(
        student="7",
        rule=None,
        channel=None,
        duration=timedelta(minutes=30),
        by="admin",
        reason="",
        source=source,
    )


def test_a_mute_ends_exactly_and_holds_across_a_reopened_store(db: str) -> None:
    clock = Clock()
    first = open_store(db)
    mute = _mute_student_7_for_30_minutes(first, clock, "cli")
    first.close()
    again = open_store(db)  # a restart
    try:
        mutes = StoreMutes(clock)
        row, other = _row("msg_a", 7), _row("msg_b", 8)
        clock.now = T0 + 1800 - 0.001
        assert mutes.held((row, other), again) == {"msg_a": mute.id}
        clock.now = T0 + 1800
        assert mutes.held((row, other), again) == {}
        listed = Actions(again, clock=clock, per_thread=False).mutes()
        assert [(m.id, m.active, m.ended_at) for m in listed] == [
            (mute.id, False, datetime.fromtimestamp(T0 + 1800, UTC))
        ]
    finally:
        again.close()


def test_a_mute_written_through_one_handle_is_honoured_by_another_at_once(db: str) -> None:
    clock = Clock()
    writer, reader = open_store(db), open_store(db)  # two replicas
    try:
        actions = Actions(writer, clock=clock, per_thread=False)
        mutes = StoreMutes(clock)
        row = _row("msg_a", 7, rule="failed-exam", channel="slack")
        assert mutes.held((row,), reader) == {}
        mute = actions.mute(
            student=None,
            rule="failed-exam",
            channel="slack",
            duration=timedelta(days=7),
            by="admin",
            reason="noisy",
            source="slack",
        )
        assert mutes.held((row,), reader) == {"msg_a": mute.id}
        assert mutes.held((_row("msg_b", 7, channel="lms"),), reader) == {}  # other channel
        actions.unmute(mute.id, by="admin", source="slack")
        assert mutes.held((row,), reader) == {}
    finally:
        writer.close()
        reader.close()


def test_mutes_read_once_for_several_messages_still_end_at_until_exactly(db: str) -> None:
    """The mutes read once (by the worker that recorded a batch) decide for each message
    given them without reading again, and a mute in that read ends at `until` exactly."""
    clock = Clock()
    store = open_store(db)
    try:
        mute = _mute_student_7_for_30_minutes(store, clock, "slack")
        mutes = StoreMutes(clock)
        read = mutes.read(store)
        assert [m.id for m in read] == [mute.id]
        row = _row("msg_a", 7)
        assert mutes.held((row, _row("msg_b", 8)), store, read) == {"msg_a": mute.id}
        assert mutes.held((row,), store, []) == {}  # the read decides: none then
        clock.now = T0 + 1800
        assert mutes.held((row,), store, read) == {}
    finally:
        store.close()


def test_mute_and_unmute_are_idempotent_and_audited(store: Any) -> None:
    clock, metrics = Clock(), Metrics()
    actions = Actions(store, metrics, clock=clock, per_thread=False)

    def mute() -> Any:
        return actions.mute(
            student="7",
            rule=None,
            channel=None,
            duration=timedelta(days=1),
            by="U1",
            reason="",
            source="slack",
        )

    made = mute()
    clock.now += 3
    assert mute().id == made.id  # Slack delivered the click twice
    actions.unmute(made.id, by="U1", source="slack")
    assert actions.unmute(made.id, by="U2", source="slack").ended_by == "U1"
    with pytest.raises(UnknownMute):
        actions.unmute("mute_nosuch", by="U1", source="slack")
    with pytest.raises(ValueError, match="a student or a rule"):
        actions.mute(
            student=" ",
            rule=None,
            channel="lms",
            duration=timedelta(days=1),
            by="U1",
            reason="",
            source="cli",
        )
    entries = store.audit.recent()
    assert [(e.action, e.by, e.target) for e in entries] == [
        ("unmute", "U1", made.id),
        ("mute", "U1", made.id),
    ]
    assert store.audit.recent(before=entries[0].at) == entries[1:]
    text = metrics.exposition()[0].decode()
    assert 'notifier_actions_total{action="mute",source="slack"} 1.0' in text
    assert 'notifier_actions_total{action="unmute",source="slack"} 1.0' in text


def test_the_first_follow_up_wins_across_threads_and_replicas(r: Rig, db: str) -> None:
    assert r.actions is not None and r.metrics is not None
    _fail(r, r.sandbox.institute.add_user(name="Asha Verma"), "Algebra")
    r.cycle()
    [delivery] = [row["id"] for row in r.store.log.delivery_list(rule="failed-exam")]
    with pytest.raises(UnknownDelivery):
        r.actions.follow_up("msg_nosuch", by="U0", by_name="nobody", source="slack")

    other = open_store(db)  # a second replica, its own service
    replica = Actions(other, r.metrics, clock=r.clock)
    start = threading.Barrier(8)
    results: list[Any] = []

    def click(i: int) -> None:
        actions = r.actions if i % 2 else replica
        assert actions is not None
        start.wait()
        results.append(actions.follow_up(delivery, by=f"U{i}", by_name=f"T{i}", source="slack"))

    threads = [threading.Thread(target=click, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    replica.close()
    other.close()
    assert sum(f.first for f in results) == 1
    winner = next(f for f in results if f.first)
    assert {(f.by, f.by_name) for f in results} == {(winner.by, winner.by_name)}
    facts = r.actions.delivery(delivery)
    assert facts.followed_up is not None and facts.followed_up.by == winner.by
    assert facts.students and facts.student_names == ("Asha Verma",)
    follow_ups = [e for e in r.store.audit.recent() if e.action == "follow_up"]
    assert [e.by for e in follow_ups] == [winner.by]
    text = r.metrics.exposition()[0].decode()
    assert 'notifier_actions_total{action="follow_up",source="slack"} 1.0' in text

    # The follow-up reaches the webhook rule once, however many cycles run.
    r.cycle()
    r.cycle()
    [event] = r.alerts("followed-up")
    assert event["event"] == "alert.followed_up" and event["key"] == f"{delivery}:followed_up"
    assert event["data"] == {
        "delivery": delivery,
        "rule": "failed-exam",
        "channel": "hook",
        "student": "Asha Verma",
        "user_id": facts.students[0],
        "by": winner.by,
        "by_name": winner.by_name,
        "at": event["data"]["at"],
    }
    assert datetime.fromisoformat(event["data"]["at"]) == winner.at.replace(microsecond=0)


def test_mute_events_reach_the_webhook_once_each(r: Rig) -> None:
    assert r.actions is not None
    lifted = r.actions.mute(
        student=None,
        rule="failed-exam",
        channel=None,
        duration=timedelta(days=1),
        by="admin",
        reason="exam week",
        source="cli",
    )
    ran_out = r.actions.mute(
        student="42",
        rule=None,
        channel=None,
        duration=timedelta(minutes=10),
        by="admin",
        reason="",
        source="cli",
    )
    r.cycle()
    created = r.alerts("muted")
    assert sorted(a["key"] for a in created) == sorted(
        [f"{lifted.id}:created", f"{ran_out.id}:created"]
    )
    made = next(a["data"] for a in created if a["key"] == f"{lifted.id}:created")
    assert made["rule"] == "failed-exam" and made["reason"] == "exam week"
    assert made["student"] is None and made["ended_at"] is None
    assert r.alerts("unmuted") == []

    r.actions.unmute(lifted.id, by="head", source="console")
    r.cycle()
    [ended] = r.alerts("unmuted")
    assert ended["key"] == f"{lifted.id}:ended"
    assert ended["data"]["lifted"] is True and ended["data"]["ended_by"] == "head"

    r.clock.advance(600)  # the other runs out
    r.cycle()
    r.cycle()
    ends = r.alerts("unmuted")
    assert [a["key"] for a in ends] == [f"{lifted.id}:ended", f"{ran_out.id}:ended"]
    assert ends[1]["data"]["lifted"] is False and ends[1]["data"]["ended_by"] is None
    assert len(r.alerts("muted")) == 2


def test_pruning_forgets_old_mutes_follow_ups_and_unreplayed_muted_rows(store: Any) -> None:
    from notifier.state import NewDelivery
    from notifier.state.actions_base import FollowUpRecord

    clock = Clock()
    actions = Actions(store, clock=clock, per_thread=False)
    old = actions.mute(
        student="7", rule=None, channel=None, duration=timedelta(hours=1), by="a", reason="",
        source="cli",
    )  # fmt: skip
    alerts = [{"event": "attempt.completed", "key": "1", "data": {"user_id": 7}}]
    store.seen.record(
        "attempts", ["1"], [NewDelivery("r", "hook", "attempt.completed", "1", alerts)]
    )
    [row] = store.outbox.claim_due(T0 * 2, 60)
    store.mutes.hold({row.id: old.id}, T0)
    store.follow_ups.claim(FollowUpRecord(row.id, "U1", "T", T0, "slack", "r", "hook"))
    clock.now = T0 + 40 * 86400
    fresh = actions.mute(
        student="8", rule=None, channel=None, duration=timedelta(days=1), by="a", reason="",
        source="cli",
    )  # fmt: skip
    assert store.mutes.prune(T0 + 86400) == 2  # the ended mute and the muted row
    assert store.follow_ups.prune(T0 + 86400) == 1
    assert [m.id for m in actions.mutes(include_ended_days=365)] == [fresh.id]
    assert store.outbox.delivery_counts()["muted"] == 0 and store.follow_ups.get(row.id) is None


def test_an_action_before_the_first_cycle_is_not_swallowed_by_the_baseline(
    tmp_path: Path, db: str
) -> None:
    with rig(tmp_path, ACTIONS, db=db) as r:
        assert r.actions is not None
        mute = r.actions.mute(
            student=None, rule="failed-exam", channel=None, duration=timedelta(days=1),
            by="admin", reason="", source="cli",
        )  # fmt: skip
        r.cycle()  # the first: a baseline for Testpress's sources, not for this
        r.cycle()
        assert [a["key"] for a in r.alerts("muted")] == [f"{mute.id}:created"]


def test_a_store_blip_while_reading_mutes_is_not_counted_against_the_alert(
    r: Rig, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mute stage reads the store as a message goes out. Before: a store outage
    there (a PostgreSQL restart breaks each worker's connection; SQLite says "database is
    locked") was taken as a fault of the message, so the alert was held back with
    "unexpected OperationalError" and, after FAULT_TRIES such blips, set aside as dead
    (contract section 7: an outage is never counted against a row). Now the read is
    tried again, and the alert goes out in the same cycle."""
    import sqlite3

    import psycopg

    from notifier.state import FAULT_TRIES

    concern = type(r.store.mutes)
    active = concern.active
    blips = [FAULT_TRIES]
    error = sqlite3.OperationalError if db == "sqlite" else psycopg.OperationalError

    def blipping(self: Any, now: float) -> Any:
        if blips[0] > 0:  # the first read of each pass: a broken connection, a lock
            blips[0] = 0
            raise error("server closed the connection unexpectedly")
        return active(self, now)

    monkeypatch.setattr(concern, "active", blipping)
    inst = r.sandbox.institute
    for n in range(FAULT_TRIES):
        blips[0] = 1
        _fail(r, inst.add_user(name=f"Student {n}"), f"Exam {n}")
        r.cycle()
        assert len(r.alerts("failed-exam")) == n + 1, r.store.log.delivery_list()
    rows = r.store.log.delivery_list()
    assert {row["status"] for row in rows} == {"sent"}
    assert all(not row["last_error"] for row in rows)


def test_a_store_outage_that_lasts_while_reading_mutes_fails_the_pass_not_the_alert(
    r: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An outage that outlasts the mute stage's tries is the pass's failure (as when
    claiming fails): the row is not blamed, and once the store answers (and the pass's
    claim has run out) the alert goes out."""
    import sqlite3

    concern = type(r.store.mutes)
    active = concern.active
    out = [True]

    def unavailable(self: Any, now: float) -> Any:
        if out[0]:
            raise sqlite3.OperationalError("database is locked")
        return active(self, now)

    monkeypatch.setattr(concern, "active", unavailable)
    _fail(r, r.sandbox.institute.add_user(name="Asha Verma"), "Algebra")
    with pytest.raises(sqlite3.OperationalError):
        r.cycle()  # `notifier run` logs the failed cycle and goes on
    [row] = r.store.log.delivery_list()
    assert row["status"] == "queued" and not row["last_error"], row
    out[0] = False
    r.clock.advance(3600)  # past the claim's lease
    r.cycle()
    assert [a["data"]["student"] for a in r.alerts("failed-exam")] == ["Asha Verma"]


def test_a_muted_member_is_kept_muted_when_the_rest_of_its_group_faults(
    tmp_path: Path, db: str
) -> None:
    """A group whose unmuted rest fails in processing (a fault, contract section 7).
    Before: the muted member was neither kept as `muted` nor given back; it stayed
    claimed, and was sent once the claim ran out if its mute had ended meanwhile. Now it
    is kept as `muted` at once, as when the rest goes out."""
    grouped = FAILED.replace("notify: [hook]", "group_by: [exam_id]\n    notify: [hook]")
    with rig(tmp_path, grouped, db=db) as r:
        assert r.actions is not None
        r.cycle()
        inst = r.sandbox.institute
        users = [inst.add_user(name=n) for n in ("Asha Verma", "Ravi Kumar")]
        r.actions.mute(
            student=str(users[0]),
            rule=None,
            channel=None,
            duration=timedelta(hours=2),
            by="admin",
            reason="",
            source="cli",
        )

        class Fragile:
            message_type = r.app.deliverer.channels["hook"].message_type

            def send(self, message: Any) -> Any:
                raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

            def close(self) -> None:
                pass

        r.app.deliverer.set_channels({"hook": Fragile()})
        exam = inst.add_exam(title="Physics")
        at = datetime.fromtimestamp(r.clock(), UTC)
        for user in users:
            inst.complete_attempt(
                inst.start_attempt(exam, user), result="Fail", score=1.0, completed_at=at
            )
        r.cycle()
        r.clock.advance(3600)  # past the group's window: due, Asha muted, Ravi faults
        r.cycle()
        r.clock.advance(2 * 3600)  # past the mute's end (and any claim)
        r.cycle()
        assert _statuses(r)["Asha Verma"] == ["muted"]
        assert _statuses(r)["Ravi Kumar"] == ["retrying"]
