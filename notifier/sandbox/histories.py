"""Students with a history, for rules that look at one (contract section 11): one who
fails exam after exam, one whose scores fall, one who goes quiet.

Additive helpers over `Institute`: each adds its own students and exams and writes
attempts at the times given, so a test or the demo decides when "days" pass (the
notifier's clock is injected; the sandbox serves whatever times its records hold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from notifier.sandbox.data import Institute

ATTEMPT_MINUTES = 40


def attempt_at(
    inst: Institute,
    exam_id: int,
    user_id: int,
    at: datetime,
    *,
    percentage: float,
    result: str | None = None,
) -> int:
    """A completed attempt finished at `at` (started ATTEMPT_MINUTES before)."""
    aid = inst.start_attempt(exam_id, user_id, at - timedelta(minutes=ATTEMPT_MINUTES))
    inst.complete_attempt(aid, percentage=percentage, result=result, completed_at=at)
    return aid


@dataclass
class Stories:
    """Who is who: Asha fails (Algebra Mock 1..3), Ravi's scores fall, Meera goes quiet."""

    inst: Institute
    asha: int = 0
    ravi: int = 0
    meera: int = 0
    exams: list[int] = field(default_factory=list)

    def asha_fails(self, number: int, at: datetime) -> int:
        """Asha Verma fails Algebra Mock `number` (1..3): 30%, 20%, 12%."""
        percentage = {1: 30.0, 2: 20.0, 3: 12.0}.get(number, 10.0)
        return attempt_at(
            self.inst, self.exams[number - 1], self.asha, at, percentage=percentage, result="Fail"
        )

    def ravi_scores(self, number: int, at: datetime, percentage: float) -> int:
        return attempt_at(self.inst, self.exams[number - 1], self.ravi, at, percentage=percentage)

    def meera_active(self, at: datetime) -> int:
        """Meera Iyer passes Algebra Mock 1: her last activity until she goes quiet."""
        return attempt_at(self.inst, self.exams[0], self.meera, at, percentage=75.0)


def add_stories(inst: Institute) -> Stories:
    """Three students and the Algebra Mock series (pass mark 40%)."""
    stories = Stories(inst)
    stories.asha = inst.add_user("Asha Verma", "asha.verma@school.example", "asha")
    stories.ravi = inst.add_user("Ravi Kumar", "ravi.kumar@school.example", "ravi")
    stories.meera = inst.add_user("Meera Iyer", "meera.iyer@school.example", "meera")
    stories.exams = [inst.add_exam(f"Algebra Mock {n}") for n in (1, 2, 3)]
    return stories


def seed_stories(inst: Institute, now: datetime) -> Stories:
    """The three stories, all but their last step in the past: Asha has failed twice
    and Ravi scored 82% today; Meera's last activity was 8 days ago (a baseline with a
    9-day lookback window sees it). `finish` then lets the rest happen."""
    stories = add_stories(inst)
    stories.asha_fails(1, now - timedelta(hours=20))
    stories.asha_fails(2, now - timedelta(hours=6))
    stories.ravi_scores(1, now - timedelta(hours=10), 82.0)
    stories.meera_active(now - timedelta(days=8))
    return stories


def finish_stories(stories: Stories, now: datetime) -> None:
    """Asha fails a third time; Ravi scores 50% (32 points down)."""
    stories.asha_fails(3, now)
    stories.ravi_scores(2, now, 50.0)
