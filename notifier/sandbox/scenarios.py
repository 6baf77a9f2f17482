"""The institute's hardest moments, on demand: a mass exam ending.

`MassEnding` seats thousands of students in one exam, all started about the same time
long before, then finishes them within minutes: in a random order (students do not
finish in the order they started), so on the attempts list ordered by `-date` each
completion lands somewhere in the middle of the completed list and leaves a hole in the
running list, and the rows after it move to another page while a client pages.
Finishing runs in real time on a thread (`finish`), or step by step (`finish_next`)
from `Sandbox.between_pages`, so a test decides exactly what happens between pages.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from notifier.sandbox.data import Institute


class MassEnding:
    """One exam session of `students` students; see the module docstring."""

    def __init__(
        self,
        inst: Institute,
        students: int,
        *,
        started_minutes_ago: float = 90.0,
        spread_minutes: float = 5.0,
        fail_share: float = 0.3,
        title: str = "Grand Mock Test",
    ) -> None:
        self.inst = inst
        self.fail_share = fail_share
        self.exam_id = inst.add_exam(title, questions=20, pass_percentage=40.0)
        rng = inst.rng("mass-ending", self.exam_id)
        first = inst.now() - timedelta(minutes=started_minutes_ago)
        self.attempts: list[int] = []
        with inst.lock:
            for i in range(students):
                uid = inst.add_user(f"Candidate {i + 1}", email=f"candidate{i + 1}@school.example")
                start = first + timedelta(seconds=rng.uniform(0, spread_minutes * 60))
                self.attempts.append(inst.start_attempt(self.exam_id, uid, start))
        self._order = list(self.attempts)
        rng.shuffle(self._order)
        self._rng = rng
        self._lock = threading.Lock()
        #: attempt id -> time.time() just before it was completed; the Fail ones.
        self.completed: dict[int, float] = {}
        self.failed: set[int] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def done(self) -> bool:
        with self._lock:
            return len(self.completed) == len(self.attempts)

    def completions(self) -> tuple[dict[int, float], set[int]]:
        """Copies of `completed` and `failed`, safe while `finish` runs."""
        with self._lock:
            return dict(self.completed), set(self.failed)

    def finish_next(self, n: int) -> list[int]:
        """Complete the next `n` students (fewer when the exam is over); their ids."""
        out = []
        for _ in range(n):
            with self._lock:
                if not self._order:
                    break
                aid = self._order.pop()
                self.completed[aid] = time.time()
            fail = self._rng.random() < self.fail_share
            if fail:
                with self._lock:
                    self.failed.add(aid)
            self.inst.complete_attempt(aid, result="Fail" if fail else "Pass")
            out.append(aid)
        return out

    def finish(self, seconds: float) -> MassEnding:
        """Complete every remaining student at an even pace over `seconds`, on a thread."""
        total = len(self._order)

        def run() -> None:
            began = time.monotonic()
            for i in range(total):
                wait = began + seconds * i / max(1, total) - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
                if not self.finish_next(1):
                    return

        self._thread = threading.Thread(target=run, name="sandbox-mass-ending", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
