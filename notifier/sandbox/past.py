"""An institute with a past: students, and weeks of completed exam and content attempts.

A new notifier reads back the recent past into history (NOTIFIER_HISTORY_DAYS, 30 by
default), so the sandbox must be able to hold it: `seed_past` adds students and spreads
completed exam attempts and content attempts (videos watched, quizzes passed or failed)
over the last `days` days, as a real institute's lists would show them. Seeded from the
institute's seed, so one seed gives the same past.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from notifier.sandbox.data import Institute
from notifier.sandbox.generate import person


def add_students(inst: Institute, n: int) -> list[int]:
    """`n` more generated students (every 12th without an email); their ids."""
    rng = inst.rng("past-students", len(inst.users))
    first_index = len(inst.users) + 1
    ids = []
    for i in range(first_index, first_index + n):
        first, last, username, email = person(rng, i, with_email=i % 12 != 5)
        ids.append(inst.add_user(f"{first} {last}", email=email, username=f"{username}p"))
    return ids


def seed_past(
    inst: Institute,
    *,
    students: int = 0,
    attempts: int = 0,
    contents: int = 0,
    days: float = 30.0,
    now: datetime | None = None,
) -> dict[str, int]:
    """Add `students` students, then `attempts` completed exam attempts and `contents`
    completed content attempts (three videos to one quiz) over the last `days` days
    (none in the last two hours). Returns the institute's totals."""
    if students:
        add_students(inst, students)
    anchor = inst.now() if now is None else now
    if attempts:
        inst.seed_history(attempts, days_ago_min=2 / 24, days_ago_max=days, now=anchor)
    rng = inst.rng("past-contents", len(inst.content_attempts))
    with inst.lock:
        users = list(inst.users)
        span = days * 86400.0 - 7200.0
        for i in range(contents):
            at = anchor - timedelta(seconds=7200.0 + rng.random() * span)
            kind = "quiz" if i % 4 == 3 else "video"
            ca = inst.add_content_attempt(rng.choice(users), kind, created=at)
            if kind == "quiz":
                pct = round(rng.uniform(0, 100), 2)
                result = "Pass" if pct >= 40 else "Fail"
                inst.complete_content_attempt(
                    ca, completed_at=at + timedelta(minutes=10), percentage=pct, result=result
                )
            else:
                watched = round(rng.uniform(20, 100), 1)
                inst.complete_content_attempt(
                    ca, completed_at=at + timedelta(minutes=12), watched_percentage=watched
                )
    return {
        "users": len(inst.users),
        "attempts": len(inst.attempts),
        "content_attempts": len(inst.content_attempts),
    }
