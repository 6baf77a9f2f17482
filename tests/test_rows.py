"""The list rows a backlog's poll holds until they are enriched (`notifier.sources.rows`):
past a few thousand they go to a temporary file, and they come back whole, once each,
oldest first (the order history rules evaluate a backlog in)."""

from __future__ import annotations

import random
import sqlite3

import pytest

from notifier.sources import rows
from notifier.sources.rows import Rows

KIND = "attempt.completed"


def _row(i: int, minute: int) -> dict[str, object]:
    return {
        "id": i,
        "date": f"2026-12-07T08:{minute:02d}:00+00:00",
        "last_answer_updated_time": f"2026-12-07T09:{minute:02d}:30+00:00",
        "name": f"Student {i % 7}",
        "result": "Fail" if i % 3 else "Pass",
        "score": i / 4,
        "sections": [{"name": "Algebra", "score": 1.5}],
    }


def test_rows_come_back_whole_once_each_and_oldest_first_whether_held_or_spilled() -> None:
    rng = random.Random(3)
    minutes = {i: rng.randrange(60) for i in range(1, 301)}
    rows = {i: _row(i, m) for i, m in minutes.items()}
    order = sorted(rows, key=lambda i: (minutes[i], str(i)))
    for spill_after in (10_000, 40):  # held in memory; mostly on disk
        kept = Rows(KIND, spill_after=spill_after)
        for i in rng.sample(sorted(rows), len(rows)):
            kept.setdefault(str(i), dict(rows[i]))
            kept.setdefault(str(i), {"id": i})  # a row read twice keeps the first
        assert "17" in kept and "999" not in kept
        drained = list(kept.drain())
        assert [key for key, _ in drained] == [str(i) for i in order]
        assert [record for _, record in drained] == [rows[i] for i in order]
        assert "17" not in kept  # given once: the holder is empty (and its file gone)


def test_a_row_without_a_time_comes_last_and_one_json_cannot_hold_is_still_given() -> None:
    kept = Rows(KIND, spill_after=2)
    odd = {"id": 5, "extra": {1, 2}}  # a set: no JSON for it, kept in memory
    kept.setdefault("5", odd)
    kept.setdefault("9", {"id": 9})  # no time
    for i in (1, 2, 3):
        kept.setdefault(str(i), _row(i, 10 - i))
    keys = [key for key, _ in kept.drain()]
    assert keys[:3] == ["3", "2", "1"]
    assert sorted(keys[3:]) == ["5", "9"]


def test_without_a_temporary_file_the_rows_stay_in_memory_and_none_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_file(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(rows.sqlite3, "connect", no_file)
    kept = Rows(KIND, spill_after=3)
    for i in range(1, 11):
        kept.setdefault(str(i), _row(i, 30 - i))
    assert [key for key, _ in kept.drain()] == [str(i) for i in range(10, 0, -1)]
