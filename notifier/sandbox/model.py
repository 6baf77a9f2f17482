"""Plain records of the sandbox institute, and the time formats the real API uses.

The records hold clean Python values; the quirks of the wire format (numbers as
strings, two time-zone spellings, timedelta strings) are applied only when a record is
rendered, so tests can reason about the values and the client still meets the mess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone

#: The institute's time zone (Asia/Kolkata has no daylight saving, so a fixed offset is exact).
IST = timezone(timedelta(hours=5, minutes=30), "IST")


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime:
    """`value` as an aware datetime (naive ones are taken as UTC); now when None."""
    if value is None:
        return utcnow()
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def fmt_time(value: datetime | None, zulu: bool) -> str | None:
    """ISO 8601 the way Testpress writes it: `...Z` on some records, `+05:30` on others."""
    if value is None:
        return None
    if zulu:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.astimezone(IST).isoformat()


def ist_day_start(day: date) -> float:
    """Unix time of midnight at the start of `day` in the institute's time zone."""
    return datetime.combine(day, time(0), IST).timestamp()


def ist_date(value: datetime) -> date:
    """The calendar date of `value` in the institute's time zone."""
    return value.astimezone(IST).date()


class Clock:
    """The institute's clock: real time in UTC plus `clock_offset` seconds (ahead of this
    machine's when positive), used for every time the institute stamps on its own."""

    clock_offset: float = 0.0

    def now(self) -> datetime:
        now = utcnow()
        return now + timedelta(seconds=self.clock_offset) if self.clock_offset else now

    def _at(self, value: datetime | None) -> datetime:
        """`value` made aware, or the institute's clock when None."""
        return self.now() if value is None else aware(value)


@dataclass(slots=True)
class User:
    id: int
    first_name: str
    last_name: str
    username: str
    email: str | None
    phone: str | None = None

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.username

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "display_name": self.display_name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "username": self.username,
            "email": self.email,
        }


@dataclass(slots=True)
class Question:
    id: int
    order: int
    section_id: int
    subject_id: int | None
    subject_name: str
    difficulty: str | None
    html: str
    answers: list[tuple[int, str]]
    correct_answer_id: int
    marks: float = 1.0
    negative_marks: float = 0.25


@dataclass(slots=True)
class Exam:
    id: int
    title: str
    duration_minutes: int
    pass_percentage: float
    show_percentile: bool
    questions: list[Question] = field(default_factory=list)

    @property
    def max_score(self) -> float:
        return sum(q.marks for q in self.questions) or 1.0

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "duration": str(timedelta(minutes=self.duration_minutes)),
            "pass_percentage": self.pass_percentage,
            "show_percentile": self.show_percentile,
        }


@dataclass(slots=True)
class Attempt:
    """One exam attempt. `start_ts` mirrors `started_at` for the sorted date index."""

    id: int
    exam_id: int
    user_id: int
    started_at: datetime
    start_ts: float
    state: str = "Running"
    completed_at: datetime | None = None
    result: str = "NA"
    correct: int = 0
    incorrect: int = 0
    unanswered: int = 0
    score: float = 0.0
    percentage: float = 0.0
    percentile: float | None = None
    guesser: bool = False
