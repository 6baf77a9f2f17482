"""Figure g: rules that look at a student's history (issue 13), over a simulated year of
a 10,000-student institute: 100,000 exam attempts and 500,000 content completions, with
ten history rules and a `student.inactive` rule.

- history bytes per event: every event kept through `record` (the transaction a cycle
  writes), a day at a time; the SQLite file (WAL checkpointed) minus an empty store's,
  divided by the events kept (the students' activity rows included);
- evaluation cost per event, with the year's history in the store: one event per
  cycle, as `run` does it (`notifier.runtime.recall.evaluate_with_history`: the store read for
  that student, then the pure evaluation), and the pure evaluation alone (history given);
- the daily inactivity check over 10,000 students: the source's poll, evaluation, the
  once-per-spell marks and the `record` transaction.

Runs in this process against a SQLite file; no HTTP is involved (the sources' reading of
Testpress is what figures a to d measure).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STUDENTS = 10_000
ATTEMPTS = 100_000
CONTENTS = 500_000
DAYS = 365
SAMPLE = 1_000  # events evaluated one per cycle at the end of the year
START = datetime(2025, 11, 1, 2, 30, tzinfo=UTC)  # 08:00 in Kolkata

RULES = """\
channels:
  t: {type: console}
rules:
  - {name: failing-repeatedly, event: attempt.completed, when: {result: Fail},
     repeat: {times: 3, within: 30d}, notify: [t]}
  - {name: failing-in-a-row, event: attempt.completed, when: {result: Fail},
     repeat: {times: 3, in_a_row: true}, notify: [t]}
  - {name: failing-one-exam, event: attempt.completed, when: {result: Fail},
     repeat: {times: 2, within: 90d, per: [user_id, exam_id]}, notify: [t]}
  - {name: low-scores, event: attempt.completed, when: {percentage: {lt: 35}},
     repeat: {times: 4, within: 60d}, notify: [t]}
  - {name: score-dropped, event: attempt.completed,
     change: {field: percentage, drop: 20}, notify: [t]}
  - {name: score-rose, event: attempt.completed,
     change: {field: percentage, rise: 25}, notify: [t]}
  - {name: reattempt-dropped, event: attempt.completed,
     change: {field: percentage, drop: 15, same: [exam_id]}, notify: [t]}
  - {name: quizzes-failing, event: content_attempt.completed,
     when: {content_type: quiz, result: Fail}, repeat: {times: 3, within: 14d}, notify: [t]}
  - {name: videos-abandoned, event: content_attempt.completed,
     when: {content_type: video, watched_percentage: {lt: 30}},
     repeat: {times: 5, within: 7d}, notify: [t]}
  - {name: quiz-dropped, event: content_attempt.completed,
     when: {content_type: quiz}, change: {field: percentage, drop: 30}, notify: [t]}
  - {name: gone-quiet, event: student.inactive, when: {days_inactive: {gte: 7}}, notify: [t]}
"""


def _year(rng: random.Random) -> list[tuple[float, str, str, dict[str, Any]]]:
    """(time, kind, key, data) for the year, in time order. A tenth of the students
    stop being active at some point in the year."""
    span = DAYS * 86400.0
    stops = {u: rng.uniform(0.3, 1.0) * span if u % 10 == 0 else span for u in range(STUDENTS)}
    events: list[tuple[float, str, str, dict[str, Any]]] = []
    for i in range(ATTEMPTS):
        user = rng.randrange(STUDENTS)
        at = rng.uniform(0, stops[user])
        exam = rng.randrange(400)
        pct = round(rng.uniform(0, 100), 2)
        data = {
            "id": i + 1, "user_id": user, "exam_id": exam, "percentage": pct,
            "score": round(pct / 5, 2), "result": "Pass" if pct >= 40 else "Fail",
            "exam_title": f"Mock test {exam}", "student": f"Student {user}",
            "email": f"s{user}@school.example",
        }  # fmt: skip
        events.append((at, "attempt.completed", str(i + 1), data))
    types = ("video", "video", "video", "quiz", "notes", "attachment")
    for i in range(CONTENTS):
        user = rng.randrange(STUDENTS)
        at = rng.uniform(0, stops[user])
        kind = rng.choice(types)
        content = rng.randrange(3000)
        data = {
            "id": i + 1, "user_id": user, "content_type": kind, "chapter_content_id": content,
            "title": f"Chapter {content % 40} {kind}", "student": f"Student {user}",
            "email": f"s{user}@school.example",
        }  # fmt: skip
        if kind == "video":
            data["watched_percentage"] = round(rng.uniform(0, 100), 1)
        if kind == "quiz":
            data["percentage"] = round(rng.uniform(0, 100), 2)
            data["result"] = "Pass" if data["percentage"] >= 40 else "Fail"
        events.append((at, "content_attempt.completed", str(i + 1), data))
    events.sort(key=lambda e: e[0])
    return events


def _size(path: Path, store: Any) -> int:
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def measure() -> dict[str, Any]:
    from notifier.events import Event
    from notifier.rules.evaluate import evaluate_in_order, steps_of
    from notifier.rules.history import HistoryBook, kept_fields, to_kept
    from notifier.runtime.config import load_rules
    from notifier.runtime.recall import evaluate_with_history, once_per_spell
    from notifier.sources.base import PollContext, PollResult
    from notifier.sources.inactivity import InactivitySource
    from notifier.state import SqliteStore

    rng = random.Random(13)
    out: dict[str, Any] = {"students": STUDENTS, "attempts": ATTEMPTS, "contents": CONTENTS}
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        rules_path = Path(tmp) / "rules.yaml"
        rules_path.write_text(RULES)
        rules = load_rules(rules_path, None, env={}).rules
        out["rules"] = sum(1 for r in rules if r.history is not None)
        fields = kept_fields(rules)
        base = START.timestamp()
        year = _year(rng)

        path = Path(tmp) / "notifier.db"
        store = SqliteStore(path)
        empty = _size(path, store)
        t0 = time.perf_counter()
        day, batch = 0, []
        for offset, kind, key, data in year:
            if offset // 86400 != day and batch:
                store.seen.record("bench", [], [], history=batch, now=base + offset)
                day, batch = int(offset // 86400), []
            kept = to_kept(Event(kind, key, data), base + offset, fields[kind])
            if kept is not None:
                batch.append(kept)
        store.seen.record("bench", [], [], history=batch, now=base + DAYS * 86400)
        out["write_seconds"] = time.perf_counter() - t0
        out["events"] = len(year)
        out["history_bytes"] = _size(path, store) - empty
        out["bytes_per_event"] = out["history_bytes"] / len(year)

        # One event per cycle at the end of the year: a sample of students' next attempt.
        now = base + DAYS * 86400.0 + 3600
        full, pure = [], []
        for i in range(SAMPLE):
            user = rng.randrange(STUDENTS)
            pct = round(rng.uniform(0, 100), 2)
            result = "Pass" if pct >= 40 else "Fail"
            if i % 2:  # half exam attempts (10 a student a year), half quizzes (50)
                data = {
                    "id": 10**7 + i, "user_id": user, "exam_id": rng.randrange(400),
                    "percentage": pct, "result": result, "student": f"Student {user}",
                }  # fmt: skip
                event = Event("attempt.completed", str(10**7 + i), data)
            else:
                data = {
                    "id": 10**7 + i, "user_id": user, "content_type": "quiz",
                    "chapter_content_id": 7, "percentage": pct, "result": result,
                }  # fmt: skip
                event = Event("content_attempt.completed", str(10**7 + i), data)
            kept = to_kept(event, now, fields[event.kind])
            polled = PollResult(events=[event], history=[kept] if kept else [])
            started = time.perf_counter()
            evaluate_with_history(store, rules, polled, now)
            full.append(time.perf_counter() - started)
            book = HistoryBook()
            for past in store.history.history(event.kind, [str(user)], now - 400 * 86400):
                book.add(past)
            started = time.perf_counter()
            evaluate_in_order(rules, steps_of([event], polled.history, now), book)
            pure.append(time.perf_counter() - started)
        out["eval_full_ms"] = statistics.mean(full) * 1000
        out["eval_full_p95_ms"] = sorted(full)[int(0.95 * len(full))] * 1000
        out["eval_pure_ms"] = statistics.mean(pure) * 1000
        out["history_per_student"] = len(year) / STUDENTS

        # The daily check, at 08:00 Kolkata the day after the year.
        source = InactivitySource()
        check_at = datetime.fromtimestamp(base + DAYS * 86400.0 + 86400, UTC)
        ctx = PollContext(
            client=None,  # type: ignore[arg-type]  # the check never reads Testpress
            store=store,
            rules=[r for r in rules if r.event == "student.inactive"],
            now=check_at,
            lookback_hours=24,
            baseline=False,
        )
        started = time.perf_counter()
        polled = source.poll(ctx)
        matches, _ = evaluate_with_history(store, rules, polled, check_at.timestamp())
        matches, marks = once_per_spell(store, matches)
        store.seen.record("inactivity", marks, [], state=polled.state, now=check_at.timestamp())
        out["inactivity_seconds"] = time.perf_counter() - started
        out["inactivity_students"] = len(store.history.activities(0))
        out["inactivity_events"] = len(polled.events)
        out["inactivity_alerts"] = len(matches)
        store.close()
    return out


def rows(g: dict[str, Any]) -> list[Any]:
    from bench.table import Row

    what = (
        f"{g['students']:,} students, {g['attempts']:,} attempts + {g['contents']:,} "
        f"completions in a year, {g['rules']} history rules"
    )
    return [
        Row(
            f"g. history bytes per event ({what})",
            f"{g['bytes_per_event']:.0f} B ({g['history_bytes'] / 1e6:.0f} MB)",
            "<= 200 B",
            g["bytes_per_event"] <= 200,
        ),
        Row(
            "g. history evaluation per event, one per cycle (store read + evaluation)",
            f"{g['eval_full_ms']:.2f} ms (p95 {g['eval_full_p95_ms']:.2f} ms; evaluation "
            f"alone {g['eval_pure_ms']:.3f} ms)",
            "<= 1 ms",
            g["eval_full_ms"] <= 1.0,
        ),
        Row(
            f"g. daily inactivity check, {g['inactivity_students']:,} students "
            f"({g['inactivity_alerts']:,} alerts)",
            f"{g['inactivity_seconds']:.2f} s",
            "<= 2 s",
            g["inactivity_seconds"] <= 2.0,
        ),
    ]


if __name__ == "__main__":
    result = measure()
    from bench.table import render_table

    print(render_table(rows(result)))
    print(result, file=sys.stderr)
