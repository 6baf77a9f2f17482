"""Grouped alerts, digests, quiet hours and throttling through the real loader, planner,
store, delivery loop, renderer and channels, with an injected clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from notifier.state import SqliteStore
from tests.inprocess import rig
from tests.rendering import slack_texts

IST = ZoneInfo("Asia/Kolkata")
NAMES = "Student {i:03d}"  # the pattern of the students' names


def _fail_all(sandbox, exam: int, users: list[int]) -> list[int]:
    inst = sandbox.institute
    ids = []
    for user in users:
        ids.append(inst.start_attempt(exam, user))
        inst.complete_attempt(ids[-1], result="Fail")
    return ids


GROUPED = """
rules:
  - name: class-failed
    event: attempt.completed
    when: {result: Fail}
    group_by: [exam_id]
    group_wait: 30s
    group_interval: 5m
    notify: [slack, hook]
"""


def test_a_failing_class_of_100_arrives_as_one_slack_message_within_limits(tmp_path: Path) -> None:
    with rig(tmp_path, GROUPED) as r:
        exam = r.sandbox.institute.add_exam(title="Algebra Mock 3")
        other = r.sandbox.institute.add_exam(title="Physics Mock 1")
        users = r.students(101, NAMES)
        r.cycle()  # baseline
        ids = _fail_all(r.sandbox, exam, users[:100])
        lone = _fail_all(r.sandbox, other, users[100:])
        r.cycle()
        assert r.slack.received == [] and r.webhook.received == []  # waiting for the group

        r.clock.advance(31)
        r.cycle()
        assert len(r.slack.received) == 2  # one per exam
        post = next(p for p in r.slack.received if "Algebra Mock 3" in p.text)
        assert len(post.blocks) <= 50
        for block in post.blocks:
            for _, text in slack_texts(block):
                assert len(text) <= 3000
        assert len(post.text) <= 3000
        everything = post.text + " ".join(t for _, t in slack_texts(post.blocks))
        assert "more" in everything  # the rest summarised
        assert "Student 000" in everything

        hooks = {len(r_.json["alerts"]) for r_ in r.webhook.received}
        assert hooks == {100, 1}  # the webhook gets every alert of the group
        keys = sorted(int(a["key"]) for req in r.webhook.received for a in req.json["alerts"])
        assert keys == sorted(ids + lone)

        r.cycle()
        assert len(r.slack.received) == 2  # sent once


def test_a_late_straggler_waits_out_the_group_interval(tmp_path: Path) -> None:
    with rig(tmp_path, GROUPED) as r:
        exam = r.sandbox.institute.add_exam(title="Algebra Mock 3")
        users = r.students(3, NAMES)
        r.cycle()
        _fail_all(r.sandbox, exam, users[:2])
        r.cycle()
        r.clock.advance(31)
        r.cycle()
        assert len(r.slack.received) == 1
        _fail_all(r.sandbox, exam, users[2:])
        r.clock.advance(60)
        r.cycle()
        assert len(r.slack.received) == 1  # group_interval is 5 minutes
        r.clock.advance(5 * 60)
        r.cycle()
        assert len(r.slack.received) == 2 and "Student 002" in r.slack.received[1].text


def test_quiet_hours_hold_alerts_and_send_them_grouped_when_the_window_ends(
    tmp_path: Path,
) -> None:
    rules = """
rules:
  - name: failed
    event: attempt.completed
    when: {result: Fail}
    quiet_hours: {from: "21:00", to: "07:00", timezone: Asia/Kolkata}
    notify: [hook]
  - name: failed-urgent
    event: attempt.completed
    when: {result: Fail}
    urgent: true
    quiet_hours: {from: "21:00", to: "07:00", timezone: Asia/Kolkata}
    notify: [hook]
"""
    with rig(tmp_path, rules) as r:
        night = datetime.now(IST).replace(hour=22, minute=0, second=0, microsecond=0)
        r.clock.advance(night.timestamp() - r.clock())
        exam = r.sandbox.institute.add_exam(title="Night Mock")
        users = r.students(2, NAMES)
        r.cycle()
        _fail_all(r.sandbox, exam, users)
        r.cycle()
        assert [q.json["rule"] for q in r.webhook.received] == ["failed-urgent", "failed-urgent"]

        r.clock.advance(9 * 3600 + 60)  # 07:01
        r.cycle()
        held = [q for q in r.webhook.received if q.json["rule"] == "failed"]
        assert len(held) == 1 and len(held[0].json["alerts"]) == 2  # none dropped, grouped


def test_digest_sends_one_summary_at_its_time(tmp_path: Path) -> None:
    rules = """
rules:
  - name: daily
    event: attempt.completed
    when: {result: Fail}
    digest: {at: "18:00", timezone: Asia/Kolkata}
    notify: [hook]
"""
    with rig(tmp_path, rules) as r:
        morning = datetime.now(IST).replace(hour=10, minute=0, second=0, microsecond=0)
        r.clock.advance(morning.timestamp() - r.clock())
        exam = r.sandbox.institute.add_exam(title="Digest Mock")
        users = r.students(3, NAMES)
        r.cycle()
        _fail_all(r.sandbox, exam, users)
        r.cycle()
        r.clock.advance(7 * 3600)  # 17:00
        r.cycle()
        assert r.webhook.received == []
        r.clock.advance(3600 + 1)  # 18:00
        r.cycle()
        assert len(r.webhook.received) == 1
        digest = r.webhook.received[0].json
        assert len(digest["alerts"]) == 3 and "3" in digest["text"]


def test_throttle_holds_repeats_about_one_student_and_names_them_later(tmp_path: Path) -> None:
    rules = """
rules:
  - name: failed
    event: attempt.completed
    when: {result: Fail}
    throttle: {by: [user_id], within: 1d}
    notify: [hook]
"""
    with rig(tmp_path, rules) as r:
        exam = r.sandbox.institute.add_exam(title="Retake Mock")
        (asha, ravi) = r.students(2, NAMES)
        r.cycle()
        _fail_all(r.sandbox, exam, [asha])
        r.cycle()
        _fail_all(r.sandbox, exam, [asha, asha, ravi])
        r.cycle()
        sent = [[a["data"]["student"] for a in q.json["alerts"]] for q in r.webhook.received]
        assert sent == [["Student 000"], ["Student 001"]]  # Asha's repeats are held
        r.clock.advance(86400 + 1)
        r.cycle()
        last = r.webhook.received[-1].json
        assert [a["data"]["student"] for a in last["alerts"]] == ["Student 000", "Student 000"]
        assert "2" in last["text"]


def test_an_old_store_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    import sqlite3

    from notifier.state import migrations as store_module

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(store_module._SCHEMA_V1 + ";")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute(
        "INSERT INTO outbox (id, rule, channel, event, event_key, alerts, status, attempts, "
        "next_at, created_at, updated_at) VALUES ('msg_1', 'r', 'c', 'attempt.completed', '1', "
        "'[]', 'queued', 0, 0, 0, 0)"
    )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    assert store.meta.get_meta("schema_version") == str(store_module.SCHEMA_VERSION)
    assert store.outbox.delivery_counts()["queued"] == 1  # nothing lost on the way
    store.close()


def test_a_grouped_email_lists_every_student_in_a_table() -> None:
    from notifier.channels.base import Alert, Notification, Reason
    from notifier.delivery.render import email_message

    alerts = tuple(
        Alert(
            "attempt.completed",
            str(i),
            {"id": i, "student": f"Student <{i}>", "exam_title": "Mock", "result": "Fail"},
            (Reason("result", "eq", "Fail", "Fail"),),
        )
        for i in range(3)
    )
    subject, text, html = email_message(Notification("msg_1", "class-failed", "office", alerts))
    assert subject.startswith("[class-failed] 3 alerts")
    assert html.count("<tr>") == 4  # a header and one row per student
    assert all(f"Student &lt;{i}&gt;" in html for i in range(3))
    assert all(f"Student <{i}>" in text for i in range(3))
