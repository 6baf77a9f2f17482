"""The generated institute, and students who act on it as real time passes.

`populate` gives a fresh `Institute` its exams and students from the seed. `Ticker`
is the background life of `activity=True`: each tick (one second by default) some
students start exams and others finish them (about 30% fail, many failures with a
percentile under 30, some guessers), now and then results arrive that were never
seen running (an assigned attempt completed at once, a result imported with a start
hours ago), content attempts start and finish (assessments via Pending Evaluation), and
a live class runs with joins, leaves and rejoins.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from notifier.sandbox.data import Institute
from notifier.sandbox.generate import CONFERENCE_TITLES, EXAM_TITLES, person

USERS = 50
EXAMS = 5
CLASS_TICKS, BREAK_TICKS = 24, 10  # short enough for `make demo` to see a class settle


def populate(inst: Institute, users: int = USERS, exams: int = EXAMS) -> None:
    """Add `exams` exams and `users` students (every 12th without an email)."""
    rng = inst.rng("institute")
    for i in range(exams):
        inst.add_exam(
            EXAM_TITLES[i % len(EXAM_TITLES)],
            questions=rng.randint(15, 40),
            sections=rng.randint(2, 4),
            pass_percentage=rng.choice([35.0, 40.0, 50.0]),
            duration_minutes=rng.choice([30, 60, 90, 180]),
            show_percentile=i != exams - 1,
        )
    for i in range(1, users + 1):
        first, last, username, email = person(rng, i, with_email=i % 12 != 5)
        phone = f"98{rng.randint(10000000, 99999999)}" if rng.random() < 0.5 else None
        inst.add_user(f"{first} {last}", email=email, username=username, phone=phone)


class Ticker:
    """Runs `tick` every `interval` seconds in a daemon thread until `stop`."""

    def __init__(self, inst: Institute, interval: float = 1.0) -> None:
        self.inst = inst
        self.interval = interval
        self.rng = inst.rng("activity")
        self.ticks = 0
        self.conference: int | None = None
        self.class_started = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-activity", daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        """One step of institute life; public so tests can drive it without waiting."""
        self.ticks += 1
        self._exams()
        self._contents()
        self._live_class()

    def _exams(self) -> None:
        inst, rng = self.inst, self.rng
        now = inst.now().timestamp()
        for aid in inst.running_attempts():
            if now - inst.attempts[aid].start_ts >= 2 * self.interval and rng.random() < 0.5:
                fail = rng.random() < 0.3
                if fail:
                    low = rng.random() < 0.6
                    percentile = rng.uniform(1, 29) if low else rng.uniform(30, 60)
                else:
                    percentile = rng.uniform(30, 99.5)
                inst.complete_attempt(
                    aid,
                    result="Fail" if fail else "Pass",
                    percentile=percentile,
                    guesser=rng.random() < 0.12,
                )
        for _ in range(rng.choice([0, 1, 1, 2])):
            inst.start_attempt(rng.choice(list(inst.exams)), rng.choice(list(inst.users)))
        if self.ticks % 7 == 3:  # never seen running: assigned an hour ago, done at once
            then = inst.now() - timedelta(hours=1)
            exam, user = rng.choice(list(inst.exams)), rng.choice(list(inst.users))
            aid = inst.start_attempt(exam, user, then, state="Not Started")
            inst.complete_attempt(aid, result="Fail", percentile=rng.uniform(1, 29))
        if self.ticks % 11 == 5:  # an imported result that started hours ago
            then = inst.now() - timedelta(hours=rng.uniform(2, 20))
            exam, user = rng.choice(list(inst.exams)), rng.choice(list(inst.users))
            inst.import_results(exam, [user], then, result="Fail", percentile=rng.uniform(1, 29))

    def _contents(self) -> None:
        inst, rng = self.inst, self.rng
        if rng.random() < 0.5:
            kind = rng.choice(["video", "video", "assessment", "quiz", "attachment", "notes",
                               "live_stream"])  # fmt: skip
            inst.add_content_attempt(rng.choice(list(inst.users)), kind)
        now = inst.now().timestamp()
        with inst.lock:
            open_ones = [
                (ca.id, ca.kind, ca.state)
                for ca in inst.content_attempts.values()
                if ca.state in ("Started", "Pending Evaluation")
                and ca.kind != "videoConference"
                and now - ca.created.timestamp() >= 2 * self.interval
            ]
        for ca_id, kind, state in open_ones:
            if rng.random() >= 0.4:
                continue
            if kind in ("assessment", "quiz"):
                pct = rng.uniform(0, 100)
                if state == "Started" and kind == "assessment" and rng.random() < 0.4:
                    inst.complete_content_attempt(ca_id, state="Pending Evaluation")
                    continue
                final = "Evaluation Completed" if state == "Pending Evaluation" else "Completed"
                inst.complete_content_attempt(
                    ca_id, state=final, percentage=pct, rank=rng.randint(1, 50),
                    correct=int(pct / 5), incorrect=20 - int(pct / 5),
                )  # fmt: skip
            else:
                inst.complete_content_attempt(ca_id, watched_percentage=rng.randint(10, 100))

    def _live_class(self) -> None:
        inst, rng = self.inst, self.rng
        if self.conference is None:
            if self.ticks == 1 or self.ticks - self.class_started >= CLASS_TICKS + BREAK_TICKS:
                title = CONFERENCE_TITLES[len(inst.conferences) % len(CONFERENCE_TITLES)]
                self.conference = inst.add_conference(title, duration_minutes=45)
                self.class_started = self.ticks
                inst.join_conference(self.conference, name="Guest viewer")
            return
        conf = self.conference
        age = self.ticks - self.class_started
        if age >= CLASS_TICKS:
            inst.end_conference(conf)
            self.conference = None
            return
        inside = inst.open_participants(conf)
        pool = list(inst.users)[:15]
        if age < CLASS_TICKS // 2:
            for uid in rng.sample(pool, 2):
                if uid not in inside:
                    inst.join_conference(conf, uid)
        if inside and rng.random() < 0.3:
            inst.leave_conference(conf, rng.choice(inside))
