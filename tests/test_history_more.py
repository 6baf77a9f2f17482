"""History rules with the rest of the notifier (contract section 11): pushed completions
count like polled ones, grouping applies, `check` notes a window longer than history
recorded, `notifier test` validates `at`, `preview` builds history from the period,
the examples in docs/rules.md load, the store migrates forward and prunes history."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.commands.preview import run_preview
from notifier.events import Kept
from notifier.runtime.config import RulesError, load_rules
from notifier.sandbox.histories import add_stories, attempt_at
from notifier.sandbox.webhooks import PRIVATE_KEY, PUBLIC_KEY, exam_payload, sign_exam
from notifier.state import SqliteStore
from tests.inprocess import rig

REPO = Path(__file__).resolve().parent.parent
REPEAT = """
rules:
  - name: failing-repeatedly
    event: attempt.completed
    when: {result: Fail}
    repeat: {times: 3, within: 30d}
    notify: [hook]
"""


def test_a_pushed_third_fail_fires_with_the_polled_history(tmp_path: Path) -> None:
    with rig(tmp_path, REPEAT) as r:
        s = add_stories(r.sandbox.institute)
        now = datetime.now(UTC)
        s.asha_fails(1, now - timedelta(hours=5))  # seen by the baseline
        r.cycle()
        s.asha_fails(2, now - timedelta(hours=1))
        r.cycle()  # polled
        third = s.asha_fails(3, now)
        payload = sign_exam(exam_payload(r.sandbox.institute, third), PUBLIC_KEY, PRIVATE_KEY)
        r.store.inbox.inbox_add([("exam", json.dumps(payload))], r.clock())
        r.app.process_inbox()
        r.app.deliverer.run_pass()
        [alert] = r.alerts("failing-repeatedly")
        assert alert["key"] == str(third)
        assert [h["title"] for h in alert["data"]["history"]] == [
            "Algebra Mock 2",
            "Algebra Mock 1",
        ]
        r.cycle()  # the poll sees it too: once between them
        r.app.deliverer.run_pass()
        assert len(r.alerts("failing-repeatedly")) == 1


def test_grouping_applies_to_history_rules(tmp_path: Path) -> None:
    rules = REPEAT.replace("notify: [hook]", "group_by: [exam_id]\n    notify: [hook]")
    with rig(tmp_path, rules) as r:
        inst = r.sandbox.institute
        s = add_stories(inst)
        other = inst.add_user("Kiran Rao", "kiran@school.example", "kiran")
        now = datetime.now(UTC)
        r.cycle()
        for n, hours in ((1, 3), (2, 2)):  # Asha and Kiran fail the same exams
            s.asha_fails(n, now - timedelta(hours=hours))
            attempt_at(inst, s.exams[n - 1], other, now - timedelta(hours=hours), percentage=5)
        r.cycle()
        s.asha_fails(3, now)
        attempt_at(inst, s.exams[2], other, now, percentage=5)
        r.cycle()
        assert r.webhook.received == []  # the group waits (group_wait 30s)
        r.clock.advance(31)
        r.cycle()
        [request] = r.webhook.received  # one message for the exam, both students
        students = sorted(a["data"]["student"] for a in request.json["alerts"])
        assert students == ["Asha Verma", "Kiran Rao"]


def test_check_notes_a_window_longer_than_history_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("channels:\n  t: {type: console}\n" + REPEAT.replace("[hook]", "[t]"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTIFIER_DB", str(tmp_path / "notifier.db"))
    assert main(["check", str(rules)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        "note: rule 'failing-repeatedly' looks back 30d, but no history is recorded yet; the "
        "first start reads back NOTIFIER_HISTORY_DAYS days (30 unless set) of completed "
        "attempts into it"
    )
    store = SqliteStore(tmp_path / "notifier.db")
    three_days_ago = datetime.now(UTC).timestamp() - 3 * 86400 - 60
    store.seen.record(
        "attempts", [], [], history=[Kept("attempt.completed", "1", three_days_ago, "7", None, {})]
    )
    store.close()
    assert main(["check", str(rules)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        r"note: rule 'failing-repeatedly' looks back 30d, but history so far covers 3 days "
        r"\(since \d{4}-\d\d-\d\d\); it works with what there is",
        out[1],
    )


def test_an_event_at_without_an_offset_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tests = tmp_path / "t.yaml"
    tests.write_text(
        f"rules: {REPO / 'rules.yaml'}\ntests:\n  - name: x\n    events:\n"
        '      - {event: attempt.completed, at: "2026-11-20T10:00:00", data: {id: 1}}\n'
        "    expect: []\n"
    )
    assert main(["test", str(tests)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{tests}:5:40: 'at' needs a time with an offset, e.g. 2026-11-25T10:00:00+05:30"
    )


def test_preview_builds_history_from_the_period_read(tmp_path: Path) -> None:
    with rig(tmp_path, REPEAT) as r:
        s = add_stories(r.sandbox.institute)
        now = datetime.now(UTC)
        for n, days in ((1, 6), (2, 4), (3, 1)):
            s.asha_fails(n, now - timedelta(days=days))
        ruleset = load_rules(tmp_path / "rules.yaml", None, env={"HOOK_URL": r.webhook.url})
        week = run_preview(ruleset, make_client(r), days=7, now=now)
        assert week.matches == {"failing-repeatedly": 1}
        [sample] = week.channels["failing-repeatedly"][0].samples
        assert "Asha Verma failed 3 exams in 30 days: Algebra Mock 3 (12%)" in sample
        two_days = run_preview(ruleset, make_client(r), days=2, now=now)
        assert two_days.matches == {"failing-repeatedly": 0}  # the period holds one fail


def make_client(r):  # type: ignore[no-untyped-def]
    from notifier.runtime.wiring import make_client as real

    return real(r.app.settings)


def test_the_readme_history_examples_load(tmp_path: Path) -> None:
    page = (REPO / "docs/rules.md").read_text()
    section = page.split("## Rules that look at a student's history")[1]
    block = section.split("```yaml\n")[1].split("```")[0]
    path = tmp_path / "rules.yaml"
    path.write_text("channels:\n  teachers: {type: console}\n  office: {type: console}\n" + block)
    ruleset = load_rules(path, None, env={})
    assert sum(1 for rule in ruleset.rules if rule.history is not None) == 6


def test_a_store_of_the_previous_schema_gains_history_and_keeps_its_rows(tmp_path: Path) -> None:
    from notifier.state import migrations
    from notifier.state.packed import PACK_SQL, pack_text

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.create_function(PACK_SQL, 1, pack_text)  # schema 13's script packs with it
    for _, script in migrations._MIGRATIONS[:-1]:
        conn.executescript(script + ";")
    conn.execute(f"INSERT INTO meta VALUES ('schema_version', '{migrations.SCHEMA_VERSION - 1}')")
    conn.execute("INSERT INTO seen VALUES ('attempts', '1', 0)")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    assert store.meta.get_meta("schema_version") == str(migrations.SCHEMA_VERSION)
    assert store.seen.unseen("attempts", ["1", "2"]) == {"2"}
    store.seen.record(
        "attempts",
        ["2"],
        [],
        history=[Kept("attempt.completed", "2", 5.0, "7", "T", {"user_id": 7})],
    )
    assert [k.key for k in store.history.history("attempt.completed", ["7"], 0)] == ["2"]
    store.close()


def test_history_is_pruned_past_the_longest_window_and_activity_by_email(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    day = 86400.0
    store.seen.record(
        "attempts",
        [],
        [],
        history=[
            Kept("attempt.completed", "1", 1 * day, "7", "Old", {}, (), "Asha", "Asha@X.example"),
            Kept("attempt.completed", "2", 40 * day, "7", "New", {}, (), "Asha", "asha@x.example"),
        ],
    )
    # A live class has only the email: it still counts as Asha's latest activity.
    store.seen.record(
        "conferences",
        [],
        [],
        history=[
            Kept(
                "conference.attendance",
                "9:asha@x.example",
                41 * day,
                "email:asha@x.example",
                "Live",
                {},
            )
        ],
    )
    [activity] = store.history.activities(0)
    assert (activity.user_id, activity.at, activity.kind, activity.title) == (
        "7", 41 * day, "conference.attendance", "Live",
    )  # fmt: skip
    counts = store.history.prune_history(before=40 * day - 30 * day + 1, activity_before=0)
    assert counts["history"] == 1
    assert [k.title for k in store.history.history("attempt.completed", ["7"], 0)] == ["New"]
    store.close()


def test_repeat_on_a_kind_without_history_is_rejected() -> None:
    with pytest.raises(RulesError):
        load_rules(REPO / "tests/data/rules/bad_history.yaml", None, env={})
