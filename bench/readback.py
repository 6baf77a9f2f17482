"""Figure h: history from day one (issue 23) — a new store's read-back of 30 days of a
10,000-student institute: 8,200 completed exam attempts and 41,000 content completions
(the rates of figure g's year: 100,000 and 500,000 a year), over real HTTP.

The sandbox runs in its own interpreter (`bench.serve`), seeded through
`/_sandbox/past`; the notifier's App runs here on a fresh SQLite store with rules on
exam attempts, content attempts and `student.inactive`, so every list is read back.
Measured: the read-back alone (`ReadBack.step` with no budget, as `run --once` runs
it), its requests (the sandbox's own count: pages and the exam-title look-ups), pages,
events kept, and the alerts it queued (none, by design). Then the first daily
inactivity check over that history, as a first morning sees it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Control, notifier_env, use_env
from bench.serve import Child

STUDENTS = 10_000
ATTEMPTS = 8_200
CONTENTS = 41_000
DAYS = 30

RULES = """\
channels:
  t: {type: console}
rules:
  - {name: failing-repeatedly, event: attempt.completed, when: {result: Fail},
     repeat: {times: 3, within: 30d}, notify: [t]}
  - {name: quizzes-failing, event: content_attempt.completed,
     when: {content_type: quiz, result: Fail}, repeat: {times: 3, within: 14d}, notify: [t]}
  - {name: gone-quiet, event: student.inactive, when: {days_inactive: {gte: 7}},
     digest: {at: "08:30", timezone: Asia/Kolkata}, notify: [t]}
"""


def measure() -> dict[str, Any]:
    out: dict[str, Any] = {"students": STUDENTS, "days": DAYS}
    with Child.start("sandbox") as sandbox, tempfile.TemporaryDirectory(prefix="bench-rb-") as tmp:
        control = Control(sandbox.url)
        body = {"students": STUDENTS, "attempts": ATTEMPTS, "contents": CONTENTS, "days": DAYS}
        totals = control.http.post("/_sandbox/past", json=body).json()
        out["attempts"], out["contents"] = totals["attempts"], totals["content_attempts"]
        workdir = Path(tmp)
        env = notifier_env(workdir, sandbox.url, sandbox.token, "http://127.0.0.1:9/", RULES)
        use_env({**env, "NOTIFIER_INACTIVITY_CHECK_AT": "00:00", "NOTIFIER_LOG_LEVEL": "WARNING"})
        from notifier.rules.history import kept_fields
        from notifier.runtime.compose import build
        from notifier.runtime.config import load_rules
        from notifier.settings import load_settings

        settings = load_settings()
        ruleset = load_rules(settings.rules_path, settings)
        parts = build(settings, ruleset=ruleset)  # as `notifier run` builds it
        app, store = parts.app, parts.store
        control.reset()
        started = time.perf_counter()
        done = app.readback.step(ruleset.rules, kept_fields(ruleset.rules), None)
        out["seconds"] = time.perf_counter() - started
        out["requests"] = control.total()
        out["requests_by_endpoint"] = control.counts()
        cur = app.readback.cursor()
        out["done"], out["pages"], out["kept"] = done, cur.get("pages"), cur.get("kept")
        out["queued"] = sum(store.outbox.delivery_counts().values())
        # The first cycle after it: baselines, then the first daily check.
        started = time.perf_counter()
        result = app.cycle(budget=5.0)
        out["first_cycle_seconds"] = time.perf_counter() - started
        out["quiet_students"] = result.matches
        parts.close()
        control.close()
    return out


def rows(h: dict[str, Any]) -> list[Any]:
    from bench.table import Row

    what = (
        f"{h['students']:,} students, {h['days']} days: {h['attempts']:,} exam attempts + "
        f"{h['contents']:,} content completions"
    )
    return [
        Row(
            f"h. history read-back of a new store ({what})",
            f"{h['seconds']:.1f} s, {h['requests']:,} requests ({h['pages']:,} pages), "
            f"{h['kept']:,} events kept, {h['queued']} alerts",
            "<= 60 s, no alerts",
            bool(h["done"]) and h["seconds"] <= 60 and h["queued"] == 0,
        ),
        Row(
            "h. the first cycle after it (baselines + the first inactivity check)",
            f"{h['first_cycle_seconds']:.2f} s, {h['quiet_students']:,} students already quiet "
            "(one digest)",
            "",
            None,
        ),
    ]


if __name__ == "__main__":
    result = measure()
    from bench.table import render_table

    print(render_table(rows(result)))
    print(result, file=sys.stderr)
