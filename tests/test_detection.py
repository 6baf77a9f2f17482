"""Issue 10 over loopback: every completion is detected once, however it got there, and
an idle cycle stays cheap. One test per way of losing an event, at realistic sizes; the
sandbox changes the institute between the pages the notifier reads
(`Sandbox.between_pages`), as a live server does while a list is paged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from notifier.sandbox.scenarios import MassEnding
from tests.inprocess import Rig, rig

EVERY_RESULT = """
rules:
  - name: finished
    event: attempt.completed
    when:
      result: {in: [Pass, Fail]}
    notify: [hook]
"""

EVERY_CONTENT = """
rules:
  - name: watched
    event: content_attempt.completed
    when:
      content_type: video
    notify: [hook]
"""


def _alerted(r: Rig) -> Counter[str]:
    return Counter(a["key"] for a in r.alerts())


def _cycles_until(r: Rig, done: Callable[[], bool], limit: int = 60) -> None:
    """Cycle until `done()` holds (at most `limit` cycles), then two more: nothing may
    arrive late or twice. The caller's assertion says what is missing."""
    for _ in range(limit):
        r.cycle()
        if done():
            break
    r.cycle()
    r.cycle()


def _report(what: str, expected: set[str], got: Counter[str]) -> str:
    lost = expected - set(got)
    twice = sum(1 for k, v in got.items() if v > 1)
    return f"{what}: {len(lost)} of {len(expected)} never alerted, {twice} alerted twice"


def test_a_mass_exam_ending_while_pages_are_read_loses_nothing(tmp_path: Path) -> None:
    """2,000 students who started 90 minutes ago finish 15 at a time between the pages
    the notifier reads: rows move between pages of the running and completed lists,
    and attempts leave the running list while their detail may still say Running."""
    with rig(tmp_path, EVERY_RESULT) as r:
        inst = r.sandbox.institute
        inst.seed_history(400, days_ago_min=0.05, days_ago_max=0.9)
        session = MassEnding(inst, 2_000)
        assert r.cycle().sources_ok  # baseline: everyone is running
        r.sandbox.between_pages = lambda name, page: session.finish_next(15)
        _cycles_until(r, lambda: session.done)
        expected = {str(a) for a in session.attempts}
        got = _alerted(r)
        assert set(got) == expected and max(got.values()) == 1, _report("mass", expected, got)


def test_attempts_never_seen_running_are_all_alerted(tmp_path: Path) -> None:
    """Attempts assigned earlier (Not Started) and completed between two polls: their
    start time is before the previous poll, and they span several pages of the
    completed list among other attempts of the same hours."""
    with rig(tmp_path, EVERY_RESULT) as r:
        inst = r.sandbox.institute
        inst.seed_history(1_200, days_ago_min=0.02, days_ago_max=0.2)
        exam = inst.add_exam(title="Assigned Mock")
        now = inst.now()
        pupils = [inst.add_user(f"Pupil {i}", email=f"p{i}@school.example") for i in range(300)]
        assigned = [
            inst.start_attempt(exam, uid, now - timedelta(hours=4.5 * i / 300 + 0.5),
                               state="Not Started")
            for i, uid in enumerate(pupils)
        ]  # fmt: skip
        assert r.cycle().sources_ok
        r.cycle()
        for aid in assigned:
            inst.complete_attempt(aid, result="Fail")
        _cycles_until(r, lambda: len(r.alerts()) >= len(assigned), limit=5)
        expected = {str(a) for a in assigned}
        got = _alerted(r)
        assert set(got) == expected and max(got.values()) == 1, _report("unseen", expected, got)


def test_imported_results_with_old_start_times_are_all_alerted(tmp_path: Path) -> None:
    """Results synced in at once, started hours ago, spread through a completed list of
    several pages: never running, never near the top of the list."""
    with rig(tmp_path, EVERY_RESULT) as r:
        inst = r.sandbox.institute
        inst.seed_history(1_000, days_ago_min=0.04, days_ago_max=0.8)
        exam = inst.add_exam(title="Offline Test")
        users = [inst.add_user(f"Offline {i}", email=f"o{i}@school.example") for i in range(250)]
        assert r.cycle().sources_ok
        r.cycle()
        now = inst.now()
        imported = []
        for i, uid in enumerate(users):
            started = now - timedelta(hours=1 + 18 * i / len(users))
            imported += inst.import_results(exam, [uid], started, result="Fail")
        _cycles_until(r, lambda: len(r.alerts()) >= len(imported), limit=5)
        expected = {str(a) for a in imported}
        got = _alerted(r)
        assert set(got) == expected and max(got.values()) == 1, _report("import", expected, got)


@pytest.mark.parametrize("offset_minutes", [-10, 10])
def test_clocks_minutes_apart_lose_nothing(tmp_path: Path, offset_minutes: int) -> None:
    """Testpress's clock 10 minutes behind (or ahead of) this machine's: 500 students
    start and finish between two polls, more than two pages of the completed list."""
    with rig(tmp_path, EVERY_RESULT) as r:
        inst = r.sandbox.institute
        inst.clock_offset = offset_minutes * 60.0
        inst.seed_history(600, days_ago_min=0.05, days_ago_max=0.5)
        exam = inst.add_exam(title="Quick Quiz")
        users = [inst.add_user(f"Quick {i}", email=f"q{i}@school.example") for i in range(500)]
        assert r.cycle().sources_ok
        r.cycle()
        quick = []
        for uid in users:
            quick.append(inst.start_attempt(exam, uid))
            inst.complete_attempt(quick[-1], result="Pass")
        _cycles_until(r, lambda: len(r.alerts()) >= len(quick), limit=5)
        expected = {str(a) for a in quick}
        got = _alerted(r)
        assert set(got) == expected and max(got.values()) == 1, _report("clock", expected, got)


def _content_idle_cost(tmp_path: Path, completions: int) -> dict[str, int]:
    tmp_path.mkdir()
    with rig(tmp_path, EVERY_CONTENT) as r:
        inst = r.sandbox.institute
        users = list(inst.users)
        earlier = inst.now() - timedelta(hours=6)
        with inst.lock:
            for i in range(completions):
                ca = inst.add_content_attempt(users[i % len(users)], "video", created=earlier)
                inst.complete_content_attempt(ca, completed_at=earlier + timedelta(seconds=i))
        r.cycle()  # baseline
        r.cycle()
        r.sandbox.reset_counts()
        r.cycle()  # idle
        return {k: v for k, v in r.sandbox.request_counts.items() if v}


def test_an_idle_content_cycle_costs_at_most_3_requests_at_1000_and_50000(
    tmp_path: Path,
) -> None:
    small = _content_idle_cost(tmp_path / "small", 1_000)
    large = _content_idle_cost(tmp_path / "large", 50_000)
    assert small == large, (small, large)
    assert sum(large.values()) <= 3, large


@pytest.mark.parametrize("order", ["oldest-first", "newest-first"])
def test_content_completions_arriving_while_pages_are_read_are_all_alerted(
    tmp_path: Path, order: str
) -> None:
    """2,000 videos finish, 40 between any two pages the notifier reads, into a list of
    2,000 earlier completions (16 pages), whichever end of the list new rows join."""
    with rig(tmp_path, EVERY_CONTENT) as r:
        inst = r.sandbox.institute
        inst.list_order = order
        users = list(inst.users)
        earlier = inst.now() - timedelta(hours=3)
        with inst.lock:
            for i in range(2_000):
                ca = inst.add_content_attempt(users[i % len(users)], "video", created=earlier)
                inst.complete_content_attempt(ca, completed_at=earlier + timedelta(seconds=i))
            watching = [inst.add_content_attempt(users[i % len(users)]) for i in range(2_000)]
        assert r.cycle().sources_ok
        pending = list(reversed(watching))

        def finish(name: str, page: int) -> None:
            if name == "content_attempts":
                for _ in range(min(40, len(pending))):
                    inst.complete_content_attempt(pending.pop(), watched_percentage=80)

        r.sandbox.between_pages = finish
        _cycles_until(r, lambda: not pending)
        expected = {str(a) for a in watching}
        got = _alerted(r)
        assert set(got) == expected and max(got.values()) == 1, _report("content", expected, got)


def test_an_attendance_list_growing_while_paged_loses_no_participant(tmp_path: Path) -> None:
    """A live class of 60 who each attended 5 minutes; 20 more are added at the top of
    the list (newest first) between the pages the notifier reads. Everyone who left
    early is alerted once, with their own duration."""
    rules = """
rules:
  - name: left-early
    event: conference.attendance
    when:
      duration: {lt: 600}
    notify: [hook]
"""
    with rig(tmp_path, rules, NOTIFIER_CONFERENCE_SETTLE_MINUTES="0") as r:
        inst = r.sandbox.institute
        inst.list_order = "newest-first"
        people = [inst.add_user(f"Viewer {i}", email=f"v{i}@school.example") for i in range(80)]
        assert r.cycle().sources_ok  # baseline: no class yet
        conf = inst.add_conference("Chemistry Live")
        t0 = inst.now() - timedelta(hours=1)
        for i, uid in enumerate(people[:60]):
            at = t0 + timedelta(seconds=10 * i)
            inst.join_conference(conf, uid, at=at)
            inst.leave_conference(conf, uid, at=at + timedelta(minutes=5))
        late = list(people[60:])

        def grow(name: str, page: int) -> None:
            if name == "conference" and late:
                for uid in late[:10]:
                    at = t0 + timedelta(minutes=20)
                    inst.join_conference(conf, uid, at=at)
                    inst.leave_conference(conf, uid, at=at + timedelta(minutes=5))
                del late[:10]

        r.sandbox.between_pages = grow
        _cycles_until(r, lambda: not late, limit=10)
        r.clock.advance(1)
        r.cycle()
        expected = {f"{conf}:v{i}@school.example" for i in range(80)}
        got = _alerted(r)
        durations = {a["key"]: a["data"]["duration"] for a in r.alerts()}
        assert set(got) == expected and max(got.values()) == 1, _report("class", expected, got)
        assert set(durations.values()) == {300}


def test_attempts_running_since_before_the_window_are_watched_until_they_finish(
    tmp_path: Path,
) -> None:
    """600 attempts started 3 days ago (before the window the completed list is read
    in) finish 15 at a time between the pages of the running list: one skipped as the
    rows move, whose detail then still says Running, stays watched."""
    with rig(tmp_path, EVERY_RESULT) as r:
        inst = r.sandbox.institute
        exam = inst.add_exam(title="Open Book Marathon")
        started = inst.now() - timedelta(days=3)
        users = [inst.add_user(f"Long {i}", email=f"l{i}@school.example") for i in range(600)]
        long = [inst.start_attempt(exam, uid, started + timedelta(seconds=i))
                for i, uid in enumerate(users)]  # fmt: skip
        assert r.cycle().sources_ok
        pending = list(long)
        inst.rng("order").shuffle(pending)

        def finish(name: str, page: int) -> None:
            if name == "attempts":
                for aid in pending[-15:]:
                    inst.complete_attempt(aid, result="Fail")
                del pending[-15:]

        r.sandbox.between_pages = finish
        _cycles_until(r, lambda: not pending)
        expected = {str(a) for a in long}
        got = _alerted(r)
        assert set(got) == expected and max(got.values()) == 1, _report("long", expected, got)


def test_results_imported_during_a_mass_ending_wait_at_most_the_stale_bound(
    tmp_path: Path,
) -> None:
    """While 1,000 students finish, 60 results of another exam are imported with old
    start times: the completions of the ending can account for the count's growth for
    a while, but a deficit older than 5 minutes reads the whole window."""
    with rig(tmp_path, EVERY_RESULT) as r:
        inst = r.sandbox.institute
        session = MassEnding(inst, 1_000)
        other = inst.add_exam(title="Offline Paper")
        users = [inst.add_user(f"Paper {i}", email=f"o{i}@school.example") for i in range(60)]
        assert r.cycle().sources_ok
        r.sandbox.between_pages = lambda name, page: session.finish_next(15)
        r.cycle()
        r.cycle()
        now = inst.now()
        imported = [
            aid
            for i, uid in enumerate(users)
            for aid in inst.import_results(other, [uid], now - timedelta(hours=2 + i / 10))
        ]
        r.cycle()
        r.clock.advance(6 * 60)
        r.cycle()
        assert not session.done  # still ending: what follows is the stale bound at work
        got = _alerted(r)
        assert {str(a) for a in imported} <= set(got), _report(
            "masked", set(map(str, imported)), got
        )
        _cycles_until(r, lambda: session.done)
        expected = {str(a) for a in [*session.attempts, *imported]}
        got = _alerted(r)
        assert set(got) == expected and max(got.values()) == 1, _report("all", expected, got)
