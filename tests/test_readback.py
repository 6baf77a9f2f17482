"""History from day one (contract section 11): a new store's first start reads back the
recent past into history and activity, alerting on none of it, over real HTTP (the
sandbox) and real stores (both backends); it resumes where it stopped and never runs
twice."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from notifier.runtime.app import App
from notifier.runtime.compose import build
from notifier.sandbox.faults import FaultConfig
from notifier.sandbox.histories import add_stories
from notifier.sandbox.past import seed_past
from notifier.sources.readback import SCOPE
from notifier.state import open_store
from notifier.testpress.client import TestpressClient
from tests.e2e import open_harness
from tests.inprocess import Rig, rig
from tests.waiting import wait_until

RULES = """
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    notify: [hook]
  - name: failing-repeatedly
    event: attempt.completed
    when: {result: Fail}
    repeat: {times: 3, within: 30d}
    notify: [hook]
  - name: gone-quiet
    event: student.inactive
    when: {days_inactive: {gte: 7}}
    notify: [hook]
"""
QUIET_NOW = {"NOTIFIER_INACTIVITY_CHECK_AT": "00:00"}  # the daily check is due at once


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that notes every URL asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return super().handle_request(request)

    def read_back(self) -> list[str]:
        """The read-back's own requests: the attempts list oldest start first, the
        content lists from a month back (the live sources ask neither)."""
        month = (datetime.now(UTC) - timedelta(days=31)).date().isoformat()
        return [u for u in self.urls if "ordering=date" in u or f"completed_after={month}" in u]

    def attempt_pages(self) -> list[str]:
        """The pages of the read-back's attempts list, in the order asked for."""
        return [
            u.split("page=")[1].split("&")[0] if "page=" in u else "1"
            for u in self.urls
            if "ordering=date" in u
        ]


def _restart(r: Rig, transport: httpx.BaseTransport | None = None, **settings: object) -> App:
    """A new App on the same store and sandbox, as a restarted `notifier run` is."""
    r.app.close()
    client = TestpressClient(r.sandbox.url, token=r.sandbox.token, transport=transport)
    config = r.app.settings.model_copy(update=settings)
    # Built as `notifier run` builds it, on the rig's store (which the rig closes).
    r.app = build(config, ruleset=r.app.ruleset, store=r.store, client=client, clock=r.clock).app
    return r.app


def _kept(r: Rig) -> int:
    return len(r.store.history.history("attempt.completed", None, 0))


def test_a_first_start_reads_back_alerts_nothing_and_reports_the_already_quiet(
    tmp_path: Path, db: str
) -> None:
    with rig(tmp_path, RULES, db=db, **QUIET_NOW) as r:
        seed_past(r.sandbox.institute, students=30, attempts=400, contents=200, days=20)
        s = add_stories(r.sandbox.institute)  # after: none of the past is theirs
        now = datetime.now(UTC)
        s.meera_active(now - timedelta(days=10))  # quiet since, long before the start
        s.asha_fails(1, now - timedelta(days=6))  # both outside the 24 h lookback window
        s.asha_fails(2, now - timedelta(days=3))
        r.cycle()
        r.app.deliverer.run_pass(None)
        cur = r.store.sources.get_state(SCOPE, "cursor")
        assert cur["status"] == "done" and cur["kept"] >= 400
        assert _kept(r) >= 402  # the past attempts and Asha's two fails
        assert {a["event"] for a in r.alerts()} == {"student.inactive"}  # nothing from before
        quiet = {a["data"]["student"]: a["data"] for a in r.alerts("gone-quiet")}
        assert quiet["Meera Iyer"]["days_inactive"] == 10
        assert quiet["Meera Iyer"]["last_activity_title"] == "Algebra Mock 1"
        assert "Asha Verma" not in quiet  # active 3 days ago

        s.asha_fails(3, datetime.now(UTC))  # the first live event
        r.cycle()
        r.app.deliverer.run_pass(None)
        [repeat] = r.alerts("failing-repeatedly")
        assert repeat["data"]["student"] == "Asha Verma"
        titles = [h["title"] for h in repeat["data"]["history"]]
        assert titles == ["Algebra Mock 2", "Algebra Mock 1"]  # the read-back's two fails
        assert [a["data"]["student"] for a in r.alerts("failed-exam")] == ["Asha Verma"]


def test_a_restart_after_a_failing_page_resumes_there_and_counts_nothing_twice(
    tmp_path: Path, db: str
) -> None:
    with rig(tmp_path, RULES, db=db, quick_failures=True) as r:
        # 1,000 completed attempts 4..29 days back: five pages of 200 for the read-back,
        # none in the live sources' window (their reads are one page each).
        r.sandbox.institute.seed_history(1000, days_ago_min=4, days_ago_max=29)
        armed = [True]

        def fail_after_page_2(name: str, page: int) -> None:
            if name == "attempts" and page == 2 and armed[0]:
                r.sandbox.faults = FaultConfig(error_rate=1.0)

        r.sandbox.between_pages = fail_after_page_2
        r.cycle()
        cur = r.store.sources.get_state(SCOPE, "cursor")
        assert cur["status"] == "reading" and cur["pages"] == 2, cur
        assert "page=3" in cur["next"]
        assert _kept(r) == 400

        armed[0] = False
        r.sandbox.faults = FaultConfig()
        transport = Recording()
        _restart(r, transport).cycle()
        cur = r.store.sources.get_state(SCOPE, "cursor")
        assert cur["status"] == "done"
        assert transport.attempt_pages() == [
            "3",
            "4",
            "5",
        ]  # none of the pages recorded before read again
        assert cur["kept"] == 1000 and _kept(r) == 1000


def test_a_second_start_on_a_store_that_read_back_does_not_read_back_again(
    tmp_path: Path, db: str
) -> None:
    with rig(tmp_path, RULES, db=db) as r:
        r.sandbox.institute.seed_history(500, days_ago_min=4, days_ago_max=29)
        first = Recording()
        _restart(r, first)  # the store is still new: this start reads back
        r.cycle()
        assert first.attempt_pages() == ["1", "2", "3"]  # 500 attempts, 200 a page
        assert len(first.read_back()) == 5  # and one page of each content list
        second = Recording()
        _restart(r, second).cycle()
        assert second.read_back() == []
        assert r.store.sources.get_state(SCOPE, "cursor")["status"] == "done"
        assert _kept(r) == 500


def test_a_store_with_a_baseline_never_reads_back(tmp_path: Path, db: str) -> None:
    """A store from before this feature already has its history: no read-back."""
    with rig(tmp_path, RULES, db=db, NOTIFIER_HISTORY_DAYS="0") as r:
        r.sandbox.institute.seed_history(300, days_ago_min=4, days_ago_max=29)
        r.cycle()  # NOTIFIER_HISTORY_DAYS=0: skipped, and the sources baselined
        assert r.store.sources.get_state(SCOPE, "cursor") == {"status": "skipped"}
        r.store.sources.put_state(SCOPE, {"cursor": None})
        transport = Recording()
        _restart(r, transport, history_days=30.0).cycle()  # 30 days, but not a new store
        assert transport.read_back() == []
        assert r.store.sources.get_state(SCOPE, "cursor") == {"status": "skipped"}
        assert _kept(r) == 0


def _cursor(db: str) -> dict[str, object]:
    store = open_store(db)
    try:
        cur = store.sources.get_state(SCOPE, "cursor")
        return cur if isinstance(cur, dict) else {}
    finally:
        store.close()


def test_a_killed_run_resumes_the_read_back_at_its_cursor(tmp_path: Path) -> None:
    with open_harness(tmp_path, seed=4) as h:
        rules = RULES.split("  - name: gone-quiet")[0].replace("[hook]", "[lms]")
        h.write_rules(h.channels + rules.lstrip())
        h.sandbox.institute.seed_history(3000, days_ago_min=4, days_ago_max=29)  # 15 pages
        h.sandbox.faults = FaultConfig(slow_rate=1.0, slow_seconds=0.05)
        asked: list[int] = []

        def note(name: str, page: int) -> None:
            if name == "attempts":
                asked.append(page)

        h.sandbox.between_pages = note
        proc = h.start(log=tmp_path / "run.log")
        try:
            wait_until(
                lambda: int(_cursor(str(h.db)).get("pages") or 0) >= 4 or proc.poll() is not None,
                message="four pages read back",
            )
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        at_kill = _cursor(str(h.db))
        assert at_kill["status"] == "reading", at_kill
        resume = int(str(at_kill["next"]).split("page=")[1].split("&")[0])
        asked.clear()
        h.sandbox.faults = FaultConfig()
        done = h.notifier("run", "--once")
        assert done.returncode == 0, done.stderr[-2000:]
        cur = _cursor(str(h.db))
        assert cur["status"] == "done" and cur["kept"] == 3000
        assert sorted(p for p in asked if p > 1) == list(range(resume, 16))
        assert "history read-back done: " in done.stderr
        assert h.webhook.received == []  # nothing of the past alerted


def test_in_the_run_loop_it_reads_a_slice_a_cycle_and_the_daily_check_waits_for_it(
    tmp_path: Path, db: str
) -> None:
    """A cycle's budget bounds the read-back (here: one page a cycle), so the polls go
    on meanwhile; the inactivity check runs only once it is done, and then knows who
    went quiet."""
    with rig(tmp_path, RULES, db=db, **QUIET_NOW) as r:
        r.sandbox.institute.seed_history(500, days_ago_min=4, days_ago_max=29)  # 3 pages
        s = add_stories(r.sandbox.institute)
        s.meera_active(datetime.now(UTC) - timedelta(days=12))
        cycles = 0
        while r.store.sources.get_state(SCOPE, "cursor")["status"] == "reading":
            assert (
                r.alerts("gone-quiet") == []
                and r.store.sources.get_state("inactivity", "last_check") is None
            )
            r.app.cycle(budget=0.0)
            cycles += 1
        assert cycles == 5  # 501 attempts on 3 pages, then one page of each content list
        r.app.deliverer.run_pass(None)
        quiet = {a["data"]["student"] for a in r.alerts("gone-quiet")}
        assert "Meera Iyer" in quiet
