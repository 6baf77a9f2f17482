"""History rules through the real loop (contract section 11): the App polls the sandbox
institute over loopback, keeps history in the SQLite store and delivers to a webhook
receiver, while days pass on an injected clock. Students come from
notifier/sandbox/histories.py: Asha fails exam after exam, Ravi's scores fall, Meera
goes quiet. History survives a restart and a SIGKILL of `notifier run`."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.sandbox.histories import add_stories
from tests.e2e import open_harness, sqlite_rows
from tests.inprocess import Rig, rig
from tests.waiting import wait_until

IST = ZoneInfo("Asia/Kolkata")
DAY = 86400.0

RULES = """
rules:
  - name: failing-repeatedly
    event: attempt.completed
    when: {result: Fail}
    repeat: {times: 3, within: 30d}
    notify: [hook]
  - name: failing-in-a-row
    event: attempt.completed
    when: {result: Fail}
    repeat: {times: 3, in_a_row: true}
    notify: [hook]
  - name: score-dropped
    event: attempt.completed
    change: {field: percentage, drop: 20}
    notify: [hook]
  - name: gone-quiet
    event: student.inactive
    when: {days_inactive: {gte: 7}}
    notify: [hook]
"""


def _morning(days_ago: int) -> datetime:
    """09:00 in Kolkata, `days_ago` days back: the first cycle runs after the 08:00 check."""
    today = datetime.now(IST).replace(hour=9, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _go(r: Rig, when: datetime) -> datetime:
    r.clock.advance(when.timestamp() - r.clock())
    return when


def _fired(r: Rig) -> list[tuple[str, str]]:
    return [(a["data"].get("student"), req.json["rule"]) for req in r.webhook.received
            for a in req.json["alerts"]]  # fmt: skip


def test_fails_falling_scores_and_quiet_students_alert_as_days_pass(
    tmp_path: Path, db: str
) -> None:
    with rig(tmp_path, RULES, db=db) as r:
        s = add_stories(r.sandbox.institute)
        day0 = _go(r, _morning(12))
        s.asha_fails(1, day0 - timedelta(hours=3))  # before the notifier starts
        s.meera_active(day0 - timedelta(hours=2))
        r.cycle()  # baseline: records history, alerts on nothing
        assert r.webhook.received == []

        _go(r, day0 + timedelta(days=2))
        s.asha_fails(2, day0 + timedelta(days=2, minutes=-5))
        s.ravi_scores(1, day0 + timedelta(days=2, minutes=-4), 80.0)
        r.cycle()
        assert r.webhook.received == []  # two fails are not three; Ravi has no previous

        _go(r, day0 + timedelta(days=4))
        s.asha_fails(3, day0 + timedelta(days=4, minutes=-5))
        s.ravi_scores(2, day0 + timedelta(days=4, minutes=-4), 50.0)
        r.cycle()
        r.app.deliverer.run_pass(None)
        fired = sorted(_fired(r))
        assert fired == [
            ("Asha Verma", "failing-in-a-row"),
            ("Asha Verma", "failing-repeatedly"),
            ("Ravi Kumar", "score-dropped"),
        ]
        texts = {req.json["rule"]: req.json["text"] for req in r.webhook.received}
        assert texts["failing-repeatedly"].startswith(
            "[failing-repeatedly] Asha Verma failed 3 exams in 30 days: Algebra Mock 3 (12%), "
            "Algebra Mock 2 (20%), Algebra Mock 1 (30%)"
        )
        assert "failed 3 exams in a row" in texts["failing-in-a-row"]
        assert texts["score-dropped"].startswith(
            "[score-dropped] Ravi Kumar dropped 30 points in percentage: 50% in Algebra Mock 2, "
            "down from 80% in Algebra Mock 1"
        )
        [repeat] = [
            req.json for req in r.webhook.received if req.json["rule"] == "failing-repeatedly"
        ]
        history = repeat["alerts"][0]["data"]["history"]
        assert [h["title"] for h in history] == ["Algebra Mock 2", "Algebra Mock 1"]  # newest first
        assert [h["percentage"] for h in history] == [20, 30]
        assert {h["kind"] for h in history} == {"attempt.completed"}

        _go(r, day0 + timedelta(days=6, hours=1))
        r.cycle()
        assert len(r.webhook.received) == 3  # Meera has been quiet 6 days: not yet

        _go(r, day0 + timedelta(days=7))
        r.cycle()
        r.app.deliverer.run_pass(None)
        assert _fired(r)[3:] == [("Meera Iyer", "gone-quiet")]
        quiet = r.webhook.received[3].json
        assert quiet["text"].startswith(
            '[gone-quiet] Meera Iyer has not been active for 7 days (last exam "Algebra Mock 1" on'
        )
        assert quiet["alerts"][0]["key"].startswith(f"{s.meera}:")

        for days in (8, 9, 15):  # once per quiet spell
            _go(r, day0 + timedelta(days=days))
            r.cycle()
        r.app.deliverer.run_pass(None)
        quiet_again = [x for x in _fired(r)[4:] if x[1] == "gone-quiet"]
        # Asha and Ravi (last active on day 4) went quiet in their turn; Meera not again.
        assert sorted(quiet_again) == [("Asha Verma", "gone-quiet"), ("Ravi Kumar", "gone-quiet")]

        s.meera_active(day0 + timedelta(days=15, minutes=-10))  # back, then quiet again
        _go(r, day0 + timedelta(days=15, minutes=1))
        r.cycle()
        _go(r, day0 + timedelta(days=22, hours=1))
        r.cycle()
        r.app.deliverer.run_pass(None)
        assert _fired(r)[-1] == ("Meera Iyer", "gone-quiet")


def test_a_history_rule_added_by_hot_reload_counts_history_kept_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = """
rules:
  - name: failed
    event: attempt.completed
    when: {result: Fail}
    notify: [hook]
"""
    with rig(tmp_path, plain) as r:
        s = add_stories(r.sandbox.institute)
        day0 = _go(r, _morning(5))
        r.cycle()
        s.asha_fails(1, day0 + timedelta(minutes=1))
        s.asha_fails(2, day0 + timedelta(minutes=2))
        _go(r, day0 + timedelta(minutes=3))
        r.cycle()
        monkeypatch.setenv("HOOK_URL", r.webhook.url)
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules.read_text() + RULES.removeprefix("\nrules:\n"))
        r.app.reload_rules_if_changed()
        assert [x.name for x in r.app.ruleset.rules][1] == "failing-repeatedly"
        s.asha_fails(3, day0 + timedelta(minutes=4))
        _go(r, day0 + timedelta(minutes=5))
        r.cycle()
        r.app.deliverer.run_pass(None)
        assert sorted(rule for _, rule in _fired(r)) == [
            "failed", "failed", "failed", "failing-in-a-row", "failing-repeatedly",
        ]  # fmt: skip


def _history_rows(db: Path) -> int:
    try:
        return int(sqlite_rows(db, "SELECT COUNT(*) FROM history")[0][0])
    except sqlite3.Error:
        return 0


def _wait(condition: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    wait_until(lambda: condition() or proc.poll() is not None, message="the history rows")
    assert condition(), "notifier run exited"


def test_history_survives_a_sigkill_and_a_restart(tmp_path: Path) -> None:
    with open_harness(tmp_path, seed=3) as h:
        h.write_rules(
            h.channels
            + """rules:
  - name: failing-repeatedly
    event: attempt.completed
    when: {result: Fail}
    repeat: {times: 3, within: 30d}
    notify: [lms]
"""
        )
        s = add_stories(h.sandbox.institute)
        now = datetime.now(IST)
        s.asha_fails(1, now - timedelta(hours=2))  # in the baseline's lookback window
        h.extra_env["NOTIFIER_POLL_INTERVAL"] = "0.2"
        proc = h.start(log=tmp_path / "run.log")
        try:
            _wait(lambda: _history_rows(h.db) >= 1, proc)
            s.asha_fails(2, datetime.now(IST))
            _wait(lambda: _history_rows(h.db) >= 2, proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        assert h.webhook.received == []

        s.asha_fails(3, datetime.now(IST))  # while it is down
        done = h.notifier("run", "--once")  # the restart: history kept across both
        assert done.returncode == 0, done.stderr[-2000:]
        [request] = h.webhook.received
        assert request.json["rule"] == "failing-repeatedly"
        assert "Asha Verma failed 3 exams in 30 days: Algebra Mock 3 (12%)" in request.json["text"]
        history = request.json["alerts"][0]["data"]["history"]
        assert [x["title"] for x in history] == ["Algebra Mock 2", "Algebra Mock 1"]


def test_an_inactivity_rule_alone_still_records_what_students_do(tmp_path: Path) -> None:
    """With no rule on exam attempts, they are still read: they are the activity."""
    quiet = """
rules:
  - name: gone-quiet
    event: student.inactive
    when: {days_inactive: {gte: 3}}
    notify: [hook]
"""
    with rig(tmp_path, quiet) as r:
        s = add_stories(r.sandbox.institute)
        day0 = _go(r, _morning(6))
        s.meera_active(day0 - timedelta(hours=1))
        r.cycle()
        _go(r, day0 + timedelta(days=3))
        r.cycle()
        r.app.deliverer.run_pass(None)
        assert _fired(r) == [("Meera Iyer", "gone-quiet")]
