"""Issue 3 over loopback: content attempts, live-class attendance, per-question answers,
and a poll whose cost follows what is new, not history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from notifier.runtime.config import load_rules
from notifier.sandbox import Sandbox
from notifier.sources.attempts import AttemptsSource
from notifier.sources.base import PollContext
from notifier.sources.content import ContentAttemptsSource
from notifier.state import SqliteStore
from notifier.testpress.client import TestpressClient
from tests.inprocess import rig

ATTEMPT_RULES = """
rules:
  - name: failed-low
    event: attempt.completed
    when:
      result: Fail
      percentile: {lt: 30}
    notify: [hook]
"""


def test_content_attempts_fire_once_in_a_final_state_with_titles(tmp_path: Path) -> None:
    rules = """
rules:
  - name: video-skimmed
    event: content_attempt.completed
    when:
      content_type: video
      watched_percentage: {lt: 50}
    notify: [hook]
  - name: course-exam-failed
    event: content_attempt.completed
    when:
      content_type: {in: [exam, quiz]}
      result: Fail
    notify: [hook]
"""
    with rig(tmp_path, rules) as r:
        inst = r.sandbox.institute
        asha, ravi = r.students(2)
        before = inst.add_content_attempt(asha, "video")
        inst.complete_content_attempt(before, watched_percentage=10)
        assert r.cycle().sources_ok
        assert r.alerts() == []  # baseline

        video = inst.add_content_attempt(asha, "video")
        inst.complete_content_attempt(video, watched_percentage=35)
        watched = inst.add_content_attempt(ravi, "video")
        inst.complete_content_attempt(watched, watched_percentage=95)
        exam = inst.add_content_attempt(ravi, "assessment")
        inst.complete_content_attempt(exam, state="Pending Evaluation")
        r.cycle()
        assert [(a["key"], a["data"]["content_type"]) for a in r.alerts()] == [
            (str(video), "video")
        ]
        data = r.alerts()[0]["data"]
        assert data["student"] == "Student 0" and data["watched_percentage"] == 35
        assert data["title"] and data["course_title"]
        assert data["title"] in r.texts()[0]

        inst.complete_content_attempt(
            exam, state="Evaluation Completed", percentage=20, result="Fail"
        )
        r.cycle()
        r.cycle()
        failed = r.alerts("course-exam-failed")
        assert [(a["key"], a["data"]["content_type"], a["data"]["result"]) for a in failed] == [
            (str(exam), "exam", "Fail")
        ]
        assert failed[0]["data"]["percentage"] == 20.0


def test_live_class_attendance_merges_rejoins_and_waits_for_the_settle_time(
    tmp_path: Path,
) -> None:
    rules = """
rules:
  - name: left-early
    event: conference.attendance
    when:
      duration: {lt: 600}
    notify: [hook]
"""
    with rig(tmp_path, rules, NOTIFIER_CONFERENCE_SETTLE_MINUTES="30") as r:
        inst = r.sandbox.institute
        asha, ravi = r.students(2)
        assert r.cycle().sources_ok  # baseline: nothing yet
        conf = inst.add_conference("Physics Live: Optics")
        t0 = datetime.now(UTC) - timedelta(minutes=20)
        inst.join_conference(conf, asha, at=t0)
        inst.leave_conference(conf, asha, at=t0 + timedelta(minutes=4))
        inst.join_conference(conf, asha, at=t0 + timedelta(minutes=10))
        inst.leave_conference(conf, asha, at=t0 + timedelta(minutes=15))
        inst.join_conference(conf, ravi, at=t0)
        inst.join_conference(conf, name="Guest Parent", at=t0 + timedelta(minutes=1))
        inst.leave_conference(conf, name="Guest Parent", at=t0 + timedelta(minutes=3))

        r.cycle()
        assert r.alerts() == []  # the list just changed: not final yet
        r.clock.advance(29 * 60)
        r.cycle()
        assert r.alerts() == []  # still inside the settle time

        r.clock.advance(2 * 60)
        r.cycle()
        by_key = {a["key"]: a["data"] for a in r.alerts()}
        asha_key = f"{conf}:s0@school.example"
        assert set(by_key) == {asha_key, f"{conf}:name:guest parent"}  # ravi is still in class
        assert by_key[asha_key]["duration"] == 540
        assert by_key[asha_key]["sessions"] == 2
        assert by_key[asha_key]["conference_title"] == "Physics Live: Optics"
        assert by_key[asha_key]["student"] == "Student 0"
        assert "Physics Live: Optics" in " ".join(r.texts())

        inst.leave_conference(conf, ravi, at=t0 + timedelta(minutes=8))
        r.cycle()
        r.clock.advance(31 * 60)
        r.cycle()
        r.cycle()
        keys = [a["key"] for a in r.alerts()]
        assert sorted(keys) == sorted(
            [asha_key, f"{conf}:name:guest parent", f"{conf}:s1@school.example"]
        )


def test_conferences_listed_in_the_rules_file_are_watched(tmp_path: Path) -> None:
    rules = """
sources:
  conferences: [1]
rules:
  - name: attended
    event: conference.attendance
    notify: [hook]
"""
    with rig(tmp_path, rules, NOTIFIER_CONFERENCE_SETTLE_MINUTES="0") as r:
        inst = r.sandbox.institute
        conf = inst.add_conference("Listed class")
        assert conf == 1
        r.cycle()
        t0 = datetime.now(UTC) - timedelta(minutes=30)
        inst.join_conference(conf, name="Walk-in", email="WALKIN@School.example", at=t0)
        inst.leave_conference(conf, email="WALKIN@School.example", at=t0 + timedelta(minutes=5))
        r.cycle()
        r.clock.advance(1)
        r.cycle()
        assert [a["key"] for a in r.alerts()] == [f"{conf}:walkin@school.example"]


def test_detail_is_fetched_only_for_events_that_passed_the_cheap_conditions(
    tmp_path: Path,
) -> None:
    with rig(tmp_path, ATTEMPT_RULES) as r:
        inst = r.sandbox.institute
        exam = inst.add_exam(title="Mock 1")
        users = r.students(6)
        r.cycle()
        r.sandbox.reset_counts()
        outcomes = [("Fail", 10.0), ("Fail", 60.0), ("Pass", 5.0), ("Pass", 90.0), ("Pass", 50.0)]
        ids = []
        for user, (result, percentile) in zip(users, outcomes, strict=False):
            ids.append(inst.start_attempt(exam, user))
            inst.complete_attempt(ids[-1], result=result, percentile=percentile)
        r.cycle()
        assert [a["key"] for a in r.alerts()] == [str(ids[0])]
        assert r.alerts()[0]["data"]["exam_title"] == "Mock 1"
        counts = r.sandbox.request_counts
        assert counts.get("attempt", 0) == 2  # only the two failed attempts
        assert counts.get("content_attempts", 0) == 0  # no rule uses content attempts
        assert counts.get("conference", 0) == 0


def test_rules_on_answers_fetch_user_answers_only_after_cheaper_conditions(
    tmp_path: Path,
) -> None:
    rules = """
rules:
  - name: guessing
    event: attempt.completed
    when:
      result: Fail
      answers: {count: {where: {duration: {lt: 5}}, gte: 10}}
    notify: [hook]
"""
    with rig(tmp_path, rules) as r:
        inst = r.sandbox.institute
        exam = inst.add_exam(title="Mock 2", questions=30)
        a, b, c = r.students(3)
        r.cycle()
        r.sandbox.reset_counts()
        guess = inst.start_attempt(exam, a)
        inst.complete_attempt(guess, result="Fail", guesser=True)
        careful = inst.start_attempt(exam, b)
        inst.complete_attempt(careful, result="Fail", percentage=90.0, guesser=False)
        passed = inst.start_attempt(exam, c)
        inst.complete_attempt(passed, result="Pass", guesser=True)
        r.cycle()
        alerts = r.alerts()
        assert [x["key"] for x in alerts] == [str(guess)]
        answers = alerts[0]["data"]["answers"]
        assert len(answers) == 30
        assert all(
            isinstance(x["question_text"], str) and "<" not in x["question_text"] for x in answers
        )
        assert r.sandbox.request_counts.get("user_answers", 0) >= 2  # two failed; pages of 50
        fetched_for = r.sandbox.request_counts.get("user_answers", 0)
        assert fetched_for <= 2 * 1  # 30 answers fit one page each: never for the Pass


def _idle_cost(tmp_path: Path, history: int, lookback_hours: int) -> dict[str, int]:
    tmp_path.mkdir()
    with rig(
        tmp_path, ATTEMPT_RULES, history=history, NOTIFIER_LOOKBACK_HOURS=str(lookback_hours)
    ) as r:
        r.cycle()  # baseline
        r.cycle()
        r.sandbox.reset_counts()
        r.cycle()  # idle
        return {k: v for k, v in r.sandbox.request_counts.items() if v}


def test_an_idle_cycle_costs_the_same_with_100000_attempts_of_history(tmp_path: Path) -> None:
    """The history is 2 to 30 days old. An idle cycle reads the running list and the
    first page of completed attempts, whatever the history or the lookback window."""
    small = _idle_cost(tmp_path / "small", 1_000, lookback_hours=24)
    small_long_lookback = _idle_cost(tmp_path / "small-720h", 1_000, lookback_hours=720)
    large = _idle_cost(tmp_path / "large", 100_000, lookback_hours=24)
    assert small == large == small_long_lookback
    exam_requests = large.get("attempts", 0) + large.get("attempt", 0)
    assert 1 <= exam_requests <= 3


def test_new_completions_are_found_cheaply_after_a_long_history(tmp_path: Path) -> None:
    with rig(tmp_path, ATTEMPT_RULES, history=20_000) as r:
        inst = r.sandbox.institute
        exam = inst.add_exam(title="Mock 3")
        (u,) = r.students(1)
        r.cycle()
        r.sandbox.reset_counts()
        attempt = inst.start_attempt(exam, u)
        inst.complete_attempt(attempt, result="Fail", percentile=3.0)
        r.cycle()
        assert [a["key"] for a in r.alerts()] == [str(attempt)]
        assert r.sandbox.request_counts.get("attempts", 0) <= 2


class _Recording(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return super().handle_request(request)


def test_filters_a_rule_pins_are_pushed_into_the_query(tmp_path: Path) -> None:
    rules = """
channels:
  hook: {type: console}
rules:
  - name: mock-1-failed
    event: attempt.completed
    when: {exam_id: 7, result: Fail}
    notify: [hook]
  - name: videos
    event: content_attempt.completed
    when: {content_type: video, course_id: {in: [3]}}
    notify: [hook]
"""
    (tmp_path / "rules.yaml").write_text(rules)
    ruleset = load_rules(tmp_path / "rules.yaml")
    with Sandbox(seed=5) as sandbox:
        transport = _Recording()
        client = TestpressClient(sandbox.url, token=sandbox.token, transport=transport)
        store = SqliteStore(":memory:")
        for source in (AttemptsSource(), ContentAttemptsSource()):
            ctx = PollContext(
                client=client,
                store=store,
                rules=[r for r in ruleset.rules if r.event in source.kinds],
                now=datetime.now(UTC),
                lookback_hours=24,
                baseline=True,
            )
            source.poll(ctx)
    seen = [(url.path, dict(url.params)) for url in transport.urls]
    attempt_lists = [p for path, p in seen if path.endswith("/admin/attempts/")]
    assert attempt_lists and all(p.get("exams") == "7" for p in attempt_lists)
    content = [p for path, p in seen if "chapter-content" in path]
    assert content
    assert all(p.get("content_type") == "3" and p.get("course_ids") == "3" for p in content)


def test_a_rule_that_widens_the_query_starts_from_now(tmp_path: Path, monkeypatch) -> None:
    pinned = """
rules:
  - name: mock-1
    event: attempt.completed
    when: {exam_id: 1, result: Fail}
    notify: [hook]
"""
    with rig(tmp_path, pinned) as r:
        monkeypatch.setenv("HOOK_URL", r.webhook.url)
        inst = r.sandbox.institute
        mock1 = inst.add_exam(title="Mock 1")
        mock2 = inst.add_exam(title="Mock 2")
        asha, ravi = r.students(2)
        rules_file = Path(r.app.ruleset.path)
        rules_file.write_text(rules_file.read_text().replace("exam_id: 1,", f"exam_id: {mock1},"))
        r.app.reload_rules_if_changed()
        assert r.app.ruleset.rules[0].pinned("exam_id") == mock1
        r.cycle()
        old = inst.start_attempt(mock2, asha)
        inst.complete_attempt(old, result="Fail")  # outside the pinned query
        r.cycle()
        assert r.alerts() == []

        rules_file.write_text(rules_file.read_text().replace(f"exam_id: {mock1}, ", ""))
        r.app.reload_rules_if_changed()
        r.cycle()  # the wider query sees Mock 2's history: a baseline, no alerts
        assert r.alerts() == []

        new = inst.start_attempt(mock2, ravi)
        inst.complete_attempt(new, result="Fail")
        r.cycle()
        assert [a["key"] for a in r.alerts()] == [str(new)]
