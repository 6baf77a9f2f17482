"""Figure m: a mass exam ending. 5,000 students, all started about 90 minutes earlier,
finish within 2 minutes (in random order: every completion lands in the middle of the
`-date` lists and moves the rows after it while the notifier pages), beside 2,000
attempts completed earlier the same day and 1,000 from earlier days; the real
`notifier run` with NOTIFIER_POLL_INTERVAL=1 and a rule on `result` (Fail, about 30%).

Measured: alerts lost (Fail completions never alerted), completion -> webhook latency
(the clock starts just before the sandbox completes the attempt and stops when the
receiver has read the body), and API requests per completion: every request the
sandbox served from the moment the ending began until the last alert arrived, full
reads of the window included, plus a pro-rata share of the periodic reconciliation
(one full read of the window per NOTIFIER_RECONCILE_MINUTES, measured here as the
pages of a full read of the window at the end). Name look-ups (users, exams) are
shown apart: each student's name is looked up once, at their first alert, and cached,
so they cost nothing the next time the same students sit an exam. Beside it, the
naive poller: every page of the completed list every second over the same ending, in a
fresh sandbox (run twice as fast: the same cycles, half the wait).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    LATENCY_RULES,
    LIST,
    Control,
    bare_client,
    bare_pages,
    notifier_env,
    notifier_running,
    percentile,
)
from bench.latency import TimedReceiver
from bench.serve import Child

STUDENTS = 5_000
FINISH_SECONDS = 120.0
TODAY, EARLIER = 2_000, 1_000
DRAIN_SECONDS = 30.0
RECONCILE_MINUTES = 60.0


def _setup(control: Control) -> dict[str, Any]:
    control.history(TODAY, days_ago_min=0.05, days_ago_max=0.5)
    body = {"students": STUDENTS, "started_minutes_ago": 90, "fail_share": 0.3}
    return dict(control.http.post("/_sandbox/exam-session", json=body).json())


def _finish(control: Control, seconds: float = FINISH_SECONDS) -> None:
    body = {"seconds": seconds}
    control.http.post("/_sandbox/exam-session/finish", json=body).raise_for_status()


def _session(control: Control) -> dict[str, Any]:
    return dict(control.http.get("/_sandbox/exam-session").json())


def measure() -> dict[str, Any]:
    notifier = _notifier_run()
    naive = _naive_run()
    return {
        "students": STUDENTS,
        "seconds": FINISH_SECONDS,
        "notifier": notifier,
        "naive": naive,
    }


def _notifier_run() -> dict[str, Any]:
    with (
        Child.start("sandbox", history=EARLIER) as sandbox,
        TimedReceiver() as receiver,
        tempfile.TemporaryDirectory(prefix="bench-massend-") as tmp,
    ):
        control = Control(sandbox.url)
        _setup(control)
        env = notifier_env(
            Path(tmp),
            sandbox.url,
            sandbox.token,
            receiver.url,
            LATENCY_RULES,
            NOTIFIER_POLL_INTERVAL="1",
            NOTIFIER_RECONCILE_MINUTES=f"{RECONCILE_MINUTES:g}",
        )
        with notifier_running(tmp, env) as stderr:
            try:
                _wait_for_idle(control)
                control.reset()
                began = time.time()
                _finish(control)
                while not _session(control)["done"]:
                    time.sleep(0.5)
                state = _session(control)
                failed = {str(i) for i in state["failed"]}
                deadline = time.time() + DRAIN_SECONDS
                while time.time() < deadline and not failed <= set(receiver.arrived):
                    time.sleep(0.2)
                requests = control.counts()
                ended = time.time()
                completed = {k: float(v) for k, v in state["completed"].items()}
                baseline = _window_pages(sandbox.url, sandbox.token)
            finally:
                control.close()
    arrived = receiver.arrived
    latencies = sorted(arrived[k] - completed[k] for k in failed if k in arrived)
    if not latencies:
        raise RuntimeError("no webhook arrived:\n" + "".join(stderr[-30:]))
    detection = requests.get("attempts", 0) + requests.get("attempt", 0)
    lookups = requests.get("users", 0) + requests.get("exams", 0)
    share = baseline * (ended - began) / (RECONCILE_MINUTES * 60)
    return {
        "failed": len(failed),
        "lost": len(failed - set(arrived)),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": latencies[-1],
        "requests": requests,
        "detection": detection,
        "reconcile_share": share,
        "detection_per_completion": (detection + share) / STUDENTS,
        "lookups_per_completion": lookups / STUDENTS,
        "reconcile_requests": baseline,
        "seconds": ended - began,
    }


def _wait_for_idle(control: Control, timeout: float = 120.0) -> None:
    """Wait until the notifier is past its baseline: a second with at most one idle
    cycle's requests (the baseline reads the whole window, tens of pages)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        control.reset()
        time.sleep(1.0)
        if 0 < control.total() <= 4:
            return
    raise RuntimeError("the notifier did not settle into idle cycles")


def _window_pages(url: str, token: str) -> int:
    """Requests of one full read of the window (what a reconciliation costs now)."""
    since = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    http = bare_client(url, token)
    count = int(http.get(LIST, params={"state": 1, "date_0": since}).json()["count"])
    http.close()
    return -(-count // 200)


# The naive poller's ending runs this many times faster than the notifier's, and it
# polls as much more often: the same cycles over the same lists, so the same requests,
# in half the time (`make bench` must stay within 15 minutes). A cycle reads at most
# 40 pages, well within its half second here.
NAIVE_SPEEDUP = 2.0


def _naive_run() -> dict[str, Any]:
    """Every page of the completed list, every second, until the ending is over and one
    more cycle has read it all (on a clock NAIVE_SPEEDUP times as fast)."""
    with Child.start("sandbox", history=EARLIER) as sandbox:
        control = Control(sandbox.url)
        _setup(control)
        http = bare_client(sandbox.url, sandbox.token)
        control.reset()
        _finish(control, FINISH_SECONDS / NAIVE_SPEEDUP)
        cycles = 0
        done_seen = False
        while True:
            started = time.time()
            done = _session(control)["done"]
            for _ in bare_pages(http, LIST, {"state": 1}):
                pass
            cycles += 1
            if done and done_seen:
                break
            done_seen = done_seen or done
            time.sleep(max(0.0, 1.0 / NAIVE_SPEEDUP - (time.time() - started)))
        total = control.total()
        http.close()
        control.close()
    return {"requests": total, "cycles": cycles, "per_completion": total / STUDENTS}
