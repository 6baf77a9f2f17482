"""Figure d: 5,000 queued webhook deliveries to a loopback receiver (in its own
process), sent by the notifier's `Deliverer`, against a bare httpx client posting the
same bodies with the same concurrency (NOTIFIER_DELIVERY_CONCURRENCY, default 4).

The notifier side is timed from the first pass to the last row sent: every pass
claims, sends (signing each body) and records each outcome in the store. The bare
side posts bodies rendered beforehand and records nothing. The notifier's CPU per send
(`time.process_time`, every thread) and the outcomes per commit (group commit) are
kept in the JSON (`--json`) for the profile notes.
"""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.common import BACKLOG_RULES, notifier_env, use_env
from bench.serve import Child

DELIVERIES = 5_000
ROUNDS = 3


def _alert(i: int) -> dict[str, Any]:
    """An alert as the backlog queues it: an attempt's detail fields and one reason."""
    data = {
        "id": 500000 + i, "date": "2025-03-01T09:30:00+05:30", "exam_id": 1 + i % 5,
        "user_id": 1 + i % 50, "email": f"student{i % 50}@students.example",
        "name": f"Student {i % 50}", "phone": None, "correct_answers_count": 7,
        "incorrect_answers_count": 9, "unanswered_count": 4, "score": 4.75,
        "percentage": 35.0, "time_taken": 3120.5, "remaining_time": 480.0, "result": "Fail",
        "state": "Completed", "last_started_time": "2025-03-01T04:00:00+00:00",
        "last_answer_updated_time": "2025-03-01T04:52:00+00:00", "speed": 18.0,
        "exam_url": "http://127.0.0.1/api/v2.5/admin/exams/1/",
        "user_url": "http://127.0.0.1/api/v2.5/admin/users/1/", "percentile": 8.5,
        "username": f"student{i % 50}", "exam_title": "Algebra Mock 3",
        "student": f"Student {i % 50}",
        "sections": [
            {"id": i * 10 + s, "order": s, "section_id": 11 + s, "time_taken": 900.0,
             "correct_answers_count": 2, "incorrect_answers_count": 3, "unanswered_count": 1,
             "score": 1.25}
            for s in range(3)
        ],
    }  # fmt: skip
    reason = {"field": "percentile", "op": "lt", "expected": 12, "actual": 8.5}
    return {"event": "attempt.completed", "key": str(data["id"]), "data": data,
            "reasons": [reason]}  # fmt: skip


def _notifier(receiver_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        env = notifier_env(Path(tmp), "http://127.0.0.1:9", "unused", receiver_url, BACKLOG_RULES)
        use_env(env)
        from notifier.runtime.compose import build
        from notifier.settings import load_settings
        from notifier.state import NewDelivery
        from notifier.testpress.client import TestpressClient

        settings = load_settings()
        parts = build(settings, client=TestpressClient("http://127.0.0.1:9"))
        app, store = parts.app, parts.store
        rows = [
            NewDelivery("low-percentile", "lms", "attempt.completed", str(i), [_alert(i)])
            for i in range(DELIVERIES)
        ]
        store.seen.record("attempts", [], rows)
        bodies = _bodies(app, store)
        passes = sent = 0
        started, cpu = time.perf_counter(), time.process_time()
        while True:
            result = app.deliverer.run_pass()
            if not (result.sent or result.retrying or result.dead):
                break
            passes += 1
            sent += result.sent
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        commits = app.deliverer.record.commits
        per_commit = commits.outcomes / max(1, commits.batches)
        counts = store.outbox.delivery_counts()
        parts.close()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "per_commit": per_commit,
        "sent": sent,
        "passes": passes,
        "counts": counts,
        "bodies": bodies,
        "concurrency": settings.delivery_concurrency,
    }


def _bodies(app: Any, store: Any) -> list[bytes]:
    """The exact bytes the webhook channel will post for each queued row."""
    from notifier.delivery.deliverer import to_notification
    from notifier.delivery.render import render_message
    from notifier.state import OutboxRow

    channel = app.channels["lms"]
    out = []
    for row in store.outbox.deliveries("queued"):
        outbox = OutboxRow(
            row["id"], row["rule"], row["channel"], row["event"], row["event_key"],
            json.loads(row["alerts"]), row["status"], row["attempts"], row["created_at"],
        )  # fmt: skip
        body, _ = channel.request(render_message(channel.message_type, to_notification(outbox)))
        out.append(body)
    return out


def _bare(receiver_url: str, bodies: list[bytes], concurrency: int) -> tuple[float, float]:
    """Seconds and CPU seconds (every thread) to post every body."""
    http = httpx.Client(timeout=10)
    headers = {"Content-Type": "application/json", "User-Agent": "bench"}

    def post(body: bytes) -> int:
        return http.post(receiver_url, content=body, headers=headers).status_code

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(concurrency) as pool:
        statuses = list(pool.map(post, bodies))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    http.close()
    if any(not 200 <= s < 300 for s in statuses):
        raise RuntimeError("the receiver refused a bare post")
    return seconds, cpu


def measure(rounds: int = ROUNDS) -> dict[str, Any]:
    """`rounds` rounds, each the notifier then the bare client on the same bodies; the
    median of the rounds' side-by-side ratios counts."""
    pairs: list[tuple[float, float]] = []
    info: dict[str, Any] = {}
    cpu: list[tuple[float, float]] = []  # CPU per send (every thread), notifier and bare, µs
    with Child.start("receiver") as receiver:
        for _ in range(rounds):
            run = _notifier(receiver.url)
            if run["sent"] != DELIVERIES:
                raise RuntimeError(f"the notifier sent {run['sent']} of {DELIVERIES}")
            info = {k: run[k] for k in ("passes", "concurrency", "per_commit")}
            bare_s, bare_cpu = _bare(receiver.url, run["bodies"], run["concurrency"])
            pairs.append((run["seconds"], bare_s))
            cpu.append((run["cpu"] / DELIVERIES * 1e6, bare_cpu / DELIVERIES * 1e6))
    notifier_s, bare_s = sorted(pairs, key=lambda p: p[1] / p[0])[len(pairs) // 2]
    return {
        "deliveries": DELIVERIES,
        "ratio": bare_s / notifier_s,
        "notifier_rate": DELIVERIES / notifier_s,
        "bare_rate": DELIVERIES / bare_s,
        "ratios": [b / n for n, b in pairs],
        "cpu_us_per_send": cpu,
        **info,
    }
