"""History rules, evaluated purely (contract section 11): rules loaded by the real loader,
events fed in time order through `evaluate_in_order` (the code path `run`, `notifier
test` and `notifier preview` share), and the default wording a teacher reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from notifier.channels.base import Alert, Notification
from notifier.delivery.render import plain_text
from notifier.events import Event
from notifier.rules.evaluate import Match, evaluate_in_order, step
from notifier.rules.history import (
    DAY,
    HistoryBook,
    earlier_dicts,
    keep_seconds,
    kept_fields,
    window_notes,
)
from notifier.rules.schema import RuleSet
from notifier.rules.templates import NO_TEMPLATES, TemplateTable
from notifier.runtime.config import load_rules

T0 = 1_790_000_000.0


def ruleset(tmp_path: Path, *rules: dict[str, Any]) -> RuleSet:
    path = tmp_path / "rules.yaml"
    body = {
        "channels": {"t": {"type": "console"}},
        "rules": [{**r, "notify": ["t"]} for r in rules],
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return load_rules(path, env={})


class Feed:
    """Events of one student (or several) in time order, through one HistoryBook."""

    def __init__(self, rs: RuleSet):
        self.rs = rs
        self.book = HistoryBook()
        self.fields = kept_fields(rs.rules)
        self.n = 0

    def attempt(self, day: float, **data: Any) -> list[Match]:
        self.n += 1
        data = {"id": self.n, "user_id": 7, "student": "Asha Verma", **data}
        event = Event("attempt.completed", str(self.n), data)
        matches, _ = evaluate_in_order(
            self.rs.rules, [step(event, T0 + day * DAY, self.fields)], self.book
        )
        return matches

    def fired(self, day: float, **data: Any) -> list[str]:
        return [m.rule.name for m in self.attempt(day, **data)]


def text_of(match: Match, table: TemplateTable = NO_TEMPLATES) -> str:
    data = {**match.event.data, "history": earlier_dicts(match.history)}
    alert = Alert(match.event.kind, match.event.key, data, match.reasons)
    return plain_text(Notification("n", match.rule.name, "t", (alert,)), table.get(match.rule.name))


FAILING = {
    "name": "failing",
    "event": "attempt.completed",
    "when": {"result": "Fail"},
    "repeat": {"times": 3, "within": "30d"},
}


def test_repeat_within_fires_on_the_third_fail_in_the_window_and_then_counts_again(
    tmp_path: Path,
) -> None:
    feed = Feed(ruleset(tmp_path, FAILING))
    assert feed.fired(0, result="Fail", exam_title="Algebra Mock 1", percentage=30) == []
    assert feed.fired(3, result="Pass", exam_title="Physics 1", percentage=80) == []
    assert feed.fired(5, result="Fail", exam_title="Algebra Mock 2", percentage=20) == []
    [match] = feed.attempt(9, result="Fail", exam_title="Algebra Mock 3", percentage=12)
    assert text_of(match).startswith(
        "[failing] Asha Verma failed 3 exams in 30 days: Algebra Mock 3 (12%), "
        "Algebra Mock 2 (20%), Algebra Mock 1 (30%) because result Fail; 3 within 30d"
    )
    assert [h["title"] for h in earlier_dicts(match.history)] == [
        "Algebra Mock 2",
        "Algebra Mock 1",
    ]
    # The count starts again after firing: two more fails are not three.
    assert feed.fired(10, result="Fail") == []
    assert feed.fired(11, result="Fail") == []
    assert feed.fired(12, result="Fail") == ["failing"]


def test_an_event_recorded_twice_at_two_times_counts_once(tmp_path: Path) -> None:
    """The read-back of a new store and the poll can both record one completion, a
    moment apart: a repeat rule counts it once, and an event is never its own past
    (a restart once alerted "failed 4 exams" on three)."""
    rs = ruleset(tmp_path, FAILING)
    fields = kept_fields(rs.rules)
    book = HistoryBook()

    def fail(key: str, day: float, title: str) -> list[Match]:
        data = {"id": key, "user_id": 7, "student": "Asha Verma", "result": "Fail"}
        event = Event("attempt.completed", key, {**data, "exam_title": title})
        return evaluate_in_order(rs.rules, [step(event, T0 + day * DAY, fields)], book)[0]

    assert fail("1", 0, "Algebra Mock 1") == []
    assert fail("2", 1, "Algebra Mock 2") == []
    assert fail("2", 1.00001, "Algebra Mock 2") == []  # the same completion, read again
    [match] = fail("3", 2, "Algebra Mock 3")
    assert text_of(match).startswith(
        "[failing] Asha Verma failed 3 exams in 30 days: Algebra Mock 3, Algebra Mock 2, "
        "Algebra Mock 1 because"
    )


def test_repeat_within_forgets_fails_older_than_the_window_and_other_students(
    tmp_path: Path,
) -> None:
    feed = Feed(ruleset(tmp_path, FAILING))
    assert feed.fired(0, result="Fail") == []
    assert feed.fired(1, result="Fail", user_id=8, student="Ravi") == []
    assert feed.fired(31, result="Fail") == []  # day 0 is out of the window
    assert feed.fired(32, result="Fail", user_id=8, student="Ravi") == []
    assert feed.fired(40, result="Fail") == []  # days 31 and 40: Ravi's are his own
    assert feed.fired(41, result="Fail") == ["failing"]


def test_repeat_in_a_row_is_reset_by_an_event_that_does_not_match(tmp_path: Path) -> None:
    rule = {**FAILING, "name": "in-a-row", "repeat": {"times": 3, "in_a_row": True}}
    feed = Feed(ruleset(tmp_path, rule))
    assert feed.fired(0, result="Fail") == []
    assert feed.fired(1, result="Fail") == []
    assert feed.fired(2, result="Pass") == []
    assert feed.fired(3, result="Fail") == []
    assert feed.fired(4, result="Fail") == []
    [match] = feed.attempt(90, result="Fail", exam_title="Mock 6", percentage=5)
    assert "failed 3 exams in a row: Mock 6 (5%)" in text_of(match)


def test_repeat_per_exam_counts_each_exam_apart(tmp_path: Path) -> None:
    rule = {
        **FAILING,
        "name": "per-exam",
        "repeat": {"times": 2, "within": "7d", "per": ["user_id", "exam_id"]},
    }
    feed = Feed(ruleset(tmp_path, rule))
    assert feed.fired(0, result="Fail", exam_id=1) == []
    assert feed.fired(1, result="Fail", exam_id=2) == []
    assert feed.fired(2, result="Fail", exam_id=1) == ["per-exam"]


DROPPED = {
    "name": "dropped",
    "event": "attempt.completed",
    "change": {"field": "percentage", "drop": 20},
}


def test_change_drop_compares_with_the_previous_attempt_only(tmp_path: Path) -> None:
    feed = Feed(ruleset(tmp_path, DROPPED))
    assert feed.fired(0, percentage=72, exam_title="Algebra Mock 2") == []  # no previous one
    [match] = feed.attempt(2, percentage=45, exam_title="Algebra Mock 3")
    assert text_of(match).startswith(
        "[dropped] Asha Verma dropped 27 points in percentage: 45% in Algebra Mock 3, "
        "down from 72% in Algebra Mock 2 because percentage drop 27 (rule: drop 20)"
    )
    assert feed.fired(3, percentage=30) == []  # 15 below the previous one
    assert feed.fired(4, percentage=None) == []  # a null does not fire
    assert feed.fired(5, percentage=5) == []  # ... nor does the one after it
    assert feed.fired(6, percentage=90) == []  # a rise is not a drop


def test_change_rise_with_same_exam_and_when(tmp_path: Path) -> None:
    rule = {
        "name": "improved",
        "event": "attempt.completed",
        "when": {"result": "Pass"},
        "change": {"field": "score", "rise": 10, "same": ["exam_id"]},
    }
    feed = Feed(ruleset(tmp_path, rule))
    assert feed.fired(0, exam_id=1, score=20, result="Fail") == []
    assert feed.fired(1, exam_id=2, score=50, result="Pass") == []  # another exam
    assert feed.fired(2, exam_id=1, score=29, result="Pass") == []  # 9 above
    assert feed.fired(3, exam_id=1, score=45, result="Fail") == []  # `when` fails
    assert feed.fired(4, exam_id=1, score=60, result="Pass") == ["improved"]


def test_a_new_rule_counts_history_kept_before_it_existed(tmp_path: Path) -> None:
    """History is kept whatever the rules: a rule added later counts it at once."""
    before = Feed(ruleset(tmp_path, {"name": "plain", "event": "attempt.completed"}))
    before.fired(0, result="Fail")
    before.fired(1, result="Fail")
    after = Feed(ruleset(tmp_path, FAILING))
    after.book, after.n = before.book, before.n
    assert after.fired(2, result="Fail") == ["failing"]


def test_history_keeps_only_what_rules_compare_and_for_the_longest_window(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        FAILING,
        {
            **FAILING,
            "name": "long",
            "repeat": {"times": 2, "within": "90d"},
            "when": {"percentile": {"lt": 30}},
        },
    )
    assert "percentile" in kept_fields(rs.rules)["attempt.completed"]
    assert "answers" not in kept_fields(rs.rules)["attempt.completed"]
    assert keep_seconds(rs.rules) == 90 * DAY
    assert keep_seconds([]) == 30 * DAY
    assert keep_seconds(ruleset(tmp_path, DROPPED).rules) == 400 * DAY
    [note] = window_notes(rs.rules[1:], T0 - 3 * DAY, T0)
    assert note == (
        "note: rule 'long' looks back 90d, but history so far covers 3 days (since "
        "2026-09-18); it works with what there is"
    )


@pytest.mark.parametrize("days", [8])
def test_the_inactive_wording(days: int) -> None:
    data = {
        "user_id": 7,
        "student": "Asha Verma",
        "days_inactive": days,
        "last_activity": "2026-11-20T10:00:00+05:30",
        "last_activity_kind": "attempt.completed",
        "last_activity_title": "Algebra Mock 3",
    }
    alert = Alert("student.inactive", "7:2026-11-20", data)
    assert plain_text(Notification("n", "gone-quiet", "t", (alert,))) == (
        "[gone-quiet] Asha Verma has not been active for 8 days "
        '(last exam "Algebra Mock 3" on 2026-11-20)'
    )


def test_live_classes_count_per_student_by_email(tmp_path: Path) -> None:
    rule = {
        "name": "leaves-early",
        "event": "conference.attendance",
        "when": {"duration": {"lt": 600}},
        "repeat": {"times": 2, "within": "14d"},  # per the student's email by default
    }
    rs = ruleset(tmp_path, rule)
    assert rs.rules[0].history.per == ("email",)
    book, fields = HistoryBook(), kept_fields(rs.rules)
    got = []
    for n, (email, duration) in enumerate(
        [("ravi@x.example", 300), ("asha@x.example", 200), ("ravi@x.example", 3000),
         ("ravi@x.example", 120)]
    ):  # fmt: skip
        data = {"conference_id": n, "conference_title": f"Live {n}", "email": email,
                "student": email.split("@")[0].title(), "duration": duration}  # fmt: skip
        event = Event("conference.attendance", f"{n}:{email}", data)
        matches, _ = evaluate_in_order(rs.rules, [step(event, T0 + n * DAY, fields)], book)
        got += [text_of(m) for m in matches]
    assert got == [
        "[leaves-early] Ravi attended 2 live classes in 14 days: Live 3 (2 min), Live 0 (5 min) "
        "because duration 2 min (rule: < 10 min); 2 within 14d (rule: 2)"
    ]


def test_a_message_template_can_list_the_history(tmp_path: Path) -> None:
    rule = {
        **FAILING,
        "message": "{{ student }}: {% for h in history %}{{ h.title }} {{ h.percentage | pct }}"
        "{% if not loop.last %}, {% endif %}{% endfor %}",
    }
    rs = ruleset(tmp_path, rule)
    feed = Feed(rs)
    feed.fired(0, result="Fail", exam_title="M1", percentage=30)
    feed.fired(1, result="Fail", exam_title="M2", percentage=20)
    [match] = feed.attempt(2, result="Fail", exam_title="M3", percentage=12)
    table = TemplateTable.of(rs.rules)
    assert text_of(match, table).startswith("[failing] Asha Verma: M2 20%, M1 30%")
