"""The institute: users, exams and exam attempts, safe to change while it is served.

Attempts are kept in id order (a dict) and, beside it, in a list sorted by start time,
so a date filter is two bisections and a page never touches the other 100,000 records;
the pages of one query reuse its filtered, ordered list until an attempt starts or
completes (a read-back of 100,000 attempts filtered them all again for each of its 500
pages: 50 s of the sandbox's CPU in `bench b`).
Every value that is not given is drawn from a `random.Random` seeded by the institute
seed and the record id, so the same calls give the same institute whatever the order.
"""

from __future__ import annotations

import bisect
import logging
import random
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from notifier.sandbox.classes import LiveClassMixin
from notifier.sandbox.generate import question_bank
from notifier.sandbox.model import Attempt, Exam, User, ist_day_start

#: `ordering` values the attempts list accepts, mapped to the attribute they sort on.
ORDERINGS = {
    "date": "start_ts",
    "correct_answers_count": "correct",
    "incorrect_answers_count": "incorrect",
    "unanswered_count": "unanswered",
}
STATE_FILTER = {0: "Running", 1: "Completed", 3: "Not Started"}
log = logging.getLogger(__name__)


class Institute(LiveClassMixin):
    """Thread-safe model of one Testpress institute. Every public method takes the lock."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self.lock = threading.RLock()
        self.users: dict[int, User] = {}
        self.exams: dict[int, Exam] = {}
        self.attempts: dict[int, Attempt] = {}
        self._by_start: list[tuple[float, int]] = []
        self._next_user = 1
        self._next_exam = 1
        self._next_attempt = 1
        # Bumped whenever the attempts a query matches could change (`changed`).
        self._attempts_version = 0
        self._attempts_memo: tuple[object, list[Attempt]] | None = None
        #: Called as (what, id) under the lock when an attempt starts or completes
        #: ("attempt") or a content attempt changes state ("content_attempt"): how the
        #: institute's webhooks are sent (notifier.sandbox.webhooks). Must not block.
        self.listeners: list[Callable[[str, int], None]] = []
        self.clock_offset = 0.0  # seconds ahead of this machine's clock (model.Clock)
        self._init_content()

    def changed(self, what: str, record_id: int) -> None:
        """Tell the listeners; one that fails is logged and the change stands."""
        if what == "attempt":
            self._attempts_version += 1
        for listener in list(self.listeners):
            try:
                listener(what, record_id)
            except Exception:  # noqa: BLE001 - a webhook never undoes a change
                log.exception("sandbox listener failed for %s %s", what, record_id)

    def rng(self, *parts: object) -> random.Random:
        """A generator fixed by the institute seed and `parts` (e.g. "complete", attempt id)."""
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    # -- users and exams -------------------------------------------------------------------

    def add_user(
        self,
        name: str = "",
        email: str | None = None,
        username: str | None = None,
        phone: str | None = None,
    ) -> int:
        """Add a student; `name` is split into first and last name. Returns the user id."""
        with self.lock:
            uid = self._next_user
            self._next_user += 1
            first, _, last = name.strip().partition(" ")
            self.users[uid] = User(uid, first, last, username or f"user{uid}", email, phone)
            return uid

    def add_exam(
        self,
        title: str = "",
        *,
        questions: int = 20,
        sections: int = 2,
        pass_percentage: float = 40.0,
        duration_minutes: int = 60,
        show_percentile: bool = True,
    ) -> int:
        """Add an exam with a generated bank of `questions` MCQs. Returns the exam id."""
        if not 1 <= questions <= 999:
            raise ValueError("an exam has 1 to 999 questions")
        with self.lock:
            eid = self._next_exam
            self._next_exam += 1
            bank = question_bank(self.rng("exam", eid), eid, questions, max(1, sections))
            self.exams[eid] = Exam(
                eid,
                title or f"Exam {eid}",
                duration_minutes,
                pass_percentage,
                show_percentile,
                bank,
            )
            self._add_exam_content(eid)
            return eid

    # -- attempts --------------------------------------------------------------------------

    def start_attempt(
        self,
        exam_id: int,
        user_id: int,
        started_at: datetime | None = None,
        *,
        state: str = "Running",
    ) -> int:
        """Start an attempt (state Running, result NA), or with `state="Not Started"`
        assign one that the student has not begun. Returns the attempt id."""
        if state not in ("Running", "Not Started"):
            raise ValueError(f"an attempt starts Running or Not Started, not {state!r}")
        with self.lock:
            exam = self.exams[exam_id]
            if user_id not in self.users:
                raise KeyError(f"no user {user_id}")
            start = self._at(started_at)
            aid = self._next_attempt
            self._next_attempt += 1
            attempt = Attempt(aid, exam_id, user_id, start, start.timestamp(), state=state)
            attempt.unanswered = len(exam.questions)
            self.attempts[aid] = attempt
            bisect.insort(self._by_start, (attempt.start_ts, aid))
            self.changed("attempt", aid)
            return aid

    def complete_attempt(
        self,
        attempt_id: int,
        *,
        result: str | None = None,
        score: float | None = None,
        percentage: float | None = None,
        percentile: float | None = None,
        completed_at: datetime | None = None,
        guesser: bool | None = None,
    ) -> None:
        """Complete an attempt. Values not given are generated to agree with each other:

        `result` ("Pass"/"Fail") follows the percentage and the exam's pass mark;
        `percentile` is None -> a number near the percentage, or absent ("NA") when the
        exam hides percentiles; `guesser` marks an attempt whose answers mostly took
        under 5 seconds. The answer counts always match the percentage.
        """
        with self.lock:
            attempt = self.attempts[attempt_id]
            exam = self.exams[attempt.exam_id]
            rng = self.rng("complete", attempt_id)
            if percentage is None:
                if result == "Pass":
                    percentage = rng.uniform(exam.pass_percentage, 100)
                elif result == "Fail":
                    percentage = rng.uniform(0, max(0.0, exam.pass_percentage - 1))
                else:
                    percentage = rng.uniform(0, 100)
            if result is None:
                result = "Pass" if percentage >= exam.pass_percentage else "Fail"
            n = len(exam.questions)
            attempt.correct = max(0, min(n, round(percentage * n / 100)))
            rest = n - attempt.correct
            attempt.incorrect = rng.randint(0, rest)
            attempt.unanswered = rest - attempt.incorrect
            attempt.percentage = round(percentage, 2)
            if score is None:
                score = attempt.correct * 1.0 - attempt.incorrect * 0.25
            attempt.score = round(score, 2)
            if percentile is None and exam.show_percentile:
                percentile = max(0.0, min(100.0, percentage + rng.uniform(-15, 10)))
            attempt.percentile = None if percentile is None else round(percentile, 2)
            attempt.result = result
            attempt.guesser = rng.random() < 0.15 if guesser is None else guesser
            attempt.completed_at = self._at(completed_at)
            attempt.state = "Completed"
            self.changed("attempt", attempt_id)

    def seed_history(
        self,
        n: int,
        *,
        days_ago_min: float = 2,
        days_ago_max: float = 30,
        now: datetime | None = None,
    ) -> None:
        """Add `n` completed attempts started `days_ago_min`..`days_ago_max` days before `now`.

        Built in bulk (one sort of the date index at the end), so 100,000 take about a
        second. Needs at least one user and one exam.
        """
        with self.lock:
            if not self.users or not self.exams:
                raise ValueError("seed_history needs users and exams")
            anchor = self._at(now)
            first_id = self._next_attempt
            rng = self.rng("history", first_id)
            user_ids = list(self.users)
            exams = list(self.exams.values())
            span = (days_ago_max - days_ago_min) * 86400.0
            for aid in range(first_id, first_id + n):
                exam = rng.choice(exams)
                start = anchor - timedelta(seconds=days_ago_min * 86400.0 + rng.random() * span)
                a = Attempt(aid, exam.id, rng.choice(user_ids), start, start.timestamp())
                nq = len(exam.questions)
                a.correct = rng.randint(0, nq)
                a.incorrect = rng.randint(0, nq - a.correct)
                a.unanswered = nq - a.correct - a.incorrect
                a.percentage = round(100.0 * a.correct / nq, 2)
                a.score = a.correct - 0.25 * a.incorrect
                a.result = "Pass" if a.percentage >= exam.pass_percentage else "Fail"
                if exam.show_percentile:
                    a.percentile = round(min(100.0, a.percentage + rng.uniform(0, 5)), 2)
                a.guesser = rng.random() < 0.1
                a.completed_at = start + timedelta(seconds=rng.uniform(300, 3 * 3600))
                if rng.random() < 0.002:
                    a.completed_at += timedelta(days=1)
                a.state = "Completed"
                self.attempts[aid] = a
                self._by_start.append((a.start_ts, aid))
            self._next_attempt = first_id + n
            self._by_start.sort()
            self._attempts_version += 1

    def running_attempts(self) -> list[int]:
        """Ids of attempts still Running, oldest first (used by the activity ticker)."""
        with self.lock:
            return [a.id for a in self.attempts.values() if a.state == "Running"]

    def query_attempts(
        self,
        *,
        state: int | None = None,
        date_0: date | None = None,
        date_1: date | None = None,
        exams: Iterable[int] = (),
        users: Iterable[int] = (),
        ordering: str | None = None,
        offset: int = 0,
        limit: int = 200,
    ) -> tuple[int, list[Attempt]]:
        """(how many match, the `limit` attempts from `offset`) as the list endpoint filters.

        Dates are attempt START dates in the institute's time zone, both ends inclusive.
        Call under `self.lock` if the returned records are read afterwards.
        """
        with self.lock:
            exam_set, user_set = set(exams), set(users)
            wanted_state = STATE_FILTER.get(state) if state is not None else None
            if state is not None and wanted_state is None:
                return 0, []

            def keep(a: Attempt) -> bool:
                return (
                    (wanted_state is None or a.state == wanted_state)
                    and (not exam_set or a.exam_id in exam_set)
                    and (not user_set or a.user_id in user_set)
                )

            unfiltered = wanted_state is None and not exam_set and not user_set
            if date_0 is None and date_1 is None:
                pool: Iterable[Attempt] = self.attempts.values()
                in_id_order = True
            else:
                lo = (
                    0
                    if date_0 is None
                    else bisect.bisect_left(self._by_start, (ist_day_start(date_0), 0))
                )
                hi = (
                    len(self._by_start)
                    if date_1 is None
                    else bisect.bisect_left(
                        self._by_start, (ist_day_start(date_1 + timedelta(days=1)), 0)
                    )
                )
                pool = (self.attempts[aid] for _, aid in self._by_start[lo:hi])
                in_id_order = False
            key = ORDERINGS.get((ordering or "").lstrip("-"))
            desc = key is not None and bool(ordering and ordering.startswith("-"))
            if key is None and in_id_order and unfiltered:
                total = len(self.attempts)
                ids = list(self.attempts)
                return total, [self.attempts[i] for i in ids[offset : offset + limit]]
            asked = (self._attempts_version, state, date_0, date_1, exam_set, user_set, ordering)
            if self._attempts_memo is not None and self._attempts_memo[0] == asked:
                matched = self._attempts_memo[1]
                return len(matched), matched[offset : offset + limit]
            matched = [a for a in pool if keep(a)] if not unfiltered else list(pool)
            if key is None:
                if not in_id_order:
                    matched.sort(key=lambda a: a.id)
            elif key == "start_ts" and not in_id_order:
                pass  # the date index is already in start order
            else:
                matched.sort(key=lambda a: (getattr(a, key), a.id))
            if desc:
                matched.reverse()
            self._attempts_memo = (asked, matched)
            return len(matched), matched[offset : offset + limit]

    def import_results(
        self,
        exam_id: int,
        user_ids: Iterable[int],
        started_at: datetime,
        **outcome: object,
    ) -> list[int]:
        """Completed attempts that appear at once with an old start time, as imported or
        synced results do: never seen running. `outcome` goes to `complete_attempt`."""
        with self.lock:
            ids = [self.start_attempt(exam_id, uid, started_at) for uid in user_ids]
            for aid in ids:
                self.complete_attempt(aid, **outcome)  # type: ignore[arg-type]
            return ids
