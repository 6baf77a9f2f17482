"""Figure k: the console's pages over a year of a 10,000-student institute (issue 20
part 4): 60,000 deliveries in the outbox (a tenth dead), 600,000 kept events in history
and 10,000 students' latest activity, on SQLite. Each page is asked SAMPLES times over
real HTTP (the console's own listener, signed in) and its 95th percentile reported.

The rows are written with plain SQL in large transactions (only the reading is
measured); their shape is what `record` and the delivery stages write.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.common import percentile
from bench.table import Row
from notifier.actions.service import Actions
from notifier.console.passwords import hash_password
from notifier.runtime.compose import console_server
from notifier.runtime.config import load_rules
from notifier.settings import Settings
from notifier.state import open_store
from notifier.state.packed import pack_alerts, student_columns

STUDENTS = 10_000
DELIVERIES = 60_000
EVENTS = 600_000
SAMPLES = 40
TARGET = 0.300  # seconds, p95 of every page
RULES = """\
channels:
  teachers: {type: console}
  office: {type: console}
rules:
  - {name: failed-exam, event: attempt.completed, when: {result: Fail}, notify: [teachers]}
  - {name: low-score, event: attempt.completed, when: {percentage: {lt: 35}}, notify: [office]}
  - {name: quiz-failed, event: content_attempt.completed, when: {result: Fail},
     notify: [teachers]}
"""


def _fill(db: Any, now: float, rng: random.Random) -> None:
    year = 365 * 86400.0
    outbox = []
    for i in range(DELIVERIES):
        user = rng.randrange(STUDENTS)
        at = now - rng.uniform(0, year)
        rule = rng.choice(("failed-exam", "low-score", "quiz-failed"))
        data = {
            "id": i, "user_id": user, "exam_id": i % 400, "exam_title": f"Mock test {i % 400}",
            "student": f"Student {user}", "email": f"s{user}@school.example",
            "percentage": 20.0, "result": "Fail",
        }  # fmt: skip
        alert = {
            "event": "attempt.completed", "key": str(i), "data": data,
            "reasons": [{"field": "result", "op": "eq", "expected": "Fail", "actual": "Fail"}],
        }  # fmt: skip
        status = "dead" if i % 10 == 0 else "sent"
        outbox.append(
            (f"msg_{i:028d}", rule, "teachers", "attempt.completed", str(i), pack_alerts([alert]),
             status, 1, at, at, at, None if status == "dead" else at,
             "HTTP 410" if status == "dead" else None, *student_columns([alert]))
        )  # fmt: skip
    db.conn.executemany(
        "INSERT INTO outbox(id, rule, channel, event, event_key, alerts, status, attempts, "
        "next_at, created_at, updated_at, sent_at, last_error, user_id, email) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        outbox,
    )
    history = []
    for i in range(EVENTS):
        user = rng.randrange(STUDENTS)
        kind = "attempt.completed" if i % 6 == 0 else "content_attempt.completed"
        data = json.dumps([f"Item {i % 900}", {"percentage": 55.0, "result": "Pass"}])
        history.append((kind, str(user), now - rng.uniform(0, year), str(i), data))
    db.conn.executemany(
        "INSERT INTO history(kind, subject, at, key, data) VALUES (?, ?, ?, ?, ?)", history
    )
    db.conn.executemany(
        "INSERT INTO activity(user_id, email, at, kind, title, student) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (str(u), f"s{u}@school.example", now - rng.uniform(0, 86400 * 30),
             "attempt.completed", "Mock test 1", f"Student {u}")
            for u in range(STUDENTS)
        ],
    )  # fmt: skip
    db.conn.commit()


def measure() -> dict[str, Any]:
    rng = random.Random(20)
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        path = Path(tmp) / "rules.yaml"
        path.write_text(RULES)
        store = open_store(str(Path(tmp) / "notifier.db"))
        stack.callback(store.close)
        t0 = time.perf_counter()
        _fill(store.db, now, rng)  # type: ignore[attr-defined]
        filled = time.perf_counter() - t0
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, NOTIFIER_CONSOLE_ADDR="127.0.0.1:0", NOTIFIER_RULES=str(path)
        )
        ruleset = load_rules(path, settings)
        actions = Actions(store)
        stack.callback(actions.close)
        server = console_server(
            settings, store, rules=lambda: ruleset, actions=actions, clock=time.time, stack=stack
        )
        assert server is not None
        store.users.add("bench", "viewer", hash_password("bench password"), now)
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=30))
        form = client.get("/login").text
        token = form.split('name="csrf" value="')[1].split('"')[0]
        client.post("/login", data={"csrf": token, "name": "bench", "password": "bench password"})
        pages = {
            "/": "/",
            "/alerts": "/alerts",
            "/alerts?student=": "/alerts?student=4242",
            "/alerts?status=dead&rule=": "/alerts?status=dead&rule=failed-exam",
            "/alerts?page=100": "/alerts?page=100",
            "/alerts/<id>": "/alerts/msg_" + f"{31337:028d}",
            "/students?q=": "/students?q=Student%2042",
            "/students/<id>": "/students/4242",
            "/rules": "/rules",
            "/mutes": "/mutes",
            "/audit": "/audit",
        }
        p95: dict[str, float] = {}
        for name, url in pages.items():
            times = []
            for _ in range(SAMPLES):
                t = time.perf_counter()
                answer = client.get(url)
                times.append(time.perf_counter() - t)
                if answer.status_code != 200:
                    print(f"bench: {url} answered {answer.status_code}", file=sys.stderr)
            p95[name] = percentile(times, 95)
    return {"filled_s": filled, "p95": p95, "samples": SAMPLES}


def rows(k: dict[str, Any]) -> list[Row]:
    worst = max(k["p95"], key=k["p95"].get)
    seconds = k["p95"][worst]
    each = ", ".join(f"{name} {s * 1000:.0f}" for name, s in k["p95"].items())
    return [
        Row(
            f"k. console pages over a year: {DELIVERIES:,} deliveries, {EVENTS:,} kept events, "
            f"{STUDENTS:,} students ({k['samples']} asks a page)",
            f"p95 worst {seconds * 1000:.0f} ms ({worst}); ms: {each}",
            f"p95 <= {TARGET * 1000:.0f} ms",
            seconds <= TARGET,
        )
    ]


if __name__ == "__main__":
    from bench.table import render_table

    print(render_table(rows(measure())))
