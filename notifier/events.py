"""The events rules see, and each event kind's field catalogue (contract section 5).

The catalogue is the single source of truth for which fields exist (the rules loader
rejects others, suggesting a close match), what type each has (the loader checks that
an operator fits), and where each comes from: `stage` says which request must be made
before the field has a value, so sources fetch detail only for events that need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

FieldType = Literal["number", "string", "time", "bool", "list", "object", "any"]
# Where a field's value comes from, cheapest first:
#   list    - the source's list response (always in hand)
#   lookup  - a cached look-up of the exam or user (exam_title, student)
#   detail  - the single-attempt endpoint
#   answers - the user-answers endpoint (every page)
Stage = Literal["list", "lookup", "detail", "answers"]
STAGE_ORDER: tuple[Stage, ...] = ("list", "lookup", "detail", "answers")


@dataclass(frozen=True)
class Reason:
    """One condition that made a rule fire: `percentile lt 30` with the actual value."""

    field: str
    op: str
    expected: FieldValue
    actual: FieldValue

    def to_dict(self) -> dict[str, FieldValue]:
        return {
            "field": self.field,
            "op": self.op,
            "expected": self.expected,
            "actual": self.actual,
        }

    @classmethod
    def from_dict(cls, raw: JSONObject) -> Reason:
        return cls(str(raw["field"]), str(raw["op"]), raw.get("expected"), raw.get("actual"))


@dataclass(frozen=True)
class FieldSpec:
    type: FieldType
    stage: Stage = "list"
    # For lists of objects (`sections`, `subject_stats`, `answers`): the item's fields.
    items: Mapping[str, FieldSpec] | None = None
    # For a string field with a fixed set of values (`result`): every value it can
    # have, as Testpress writes it. `check` rejects any other value in a condition,
    # which would silently never match (comparison is case-sensitive).
    values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Event:
    """One thing that happened, as rules see it. `key` is unique within `kind`."""

    kind: str
    key: str
    data: dict[str, FieldValue] = field(hash=False, compare=False)


def _f(
    type_: FieldType,
    stage: Stage = "list",
    items: Mapping[str, FieldSpec] | None = None,
    values: tuple[str, ...] | None = None,
) -> FieldSpec:
    return FieldSpec(type_, stage, items, values)


N: FieldType = "number"
S: FieldType = "string"
T: FieldType = "time"

# The values of fields with a fixed set (testpress-api-notes.md). "NA" arrives as null
# (every "NA" does, section 5), so a condition's `NA` is compiled to null.
RESULTS = ("Pass", "Fail", "NA", "Not taken")
# content_attempt.completed fires only on a final state (Started and Pending Evaluation
# never reach a rule).
CONTENT_FINAL_STATES = ("Completed", "Evaluation Completed")
CONTENT_TYPES = ("exam", "quiz", "video", "attachment", "notes", "video_conference", "live_stream")
# The notifier's own trouble (contract section 9; notifier.sources.health).
HEALTH_PROBLEMS = ("source_failing", "rules_invalid", "deliveries_dead")

SECTION_FIELDS = {
    "id": _f(N),
    "order": _f(N),
    "section_id": _f(N),
    "time_taken": _f(N),
    "correct_answers_count": _f(N),
    "incorrect_answers_count": _f(N),
    "unanswered_count": _f(N),
    "score": _f(N),
}
SUBJECT_FIELDS = {
    "subject_id": _f(N),
    "subject_name": _f(S),
    "total_count": _f(N),
    "correct_answers_count": _f(N),
    "unanswered_count": _f(N),
    "incorrect_answers_count": _f(N),
    "parent_subject_id": _f(N),
    "is_leaf": _f("bool"),
    "score": _f(N),
    "partial_correct_answers_count": _f(N),
}
ANSWER_FIELDS = {
    "question_id": _f(N),
    "section_id": _f(N),
    "type": _f(S),
    "result": _f(S),
    "duration": _f(N),
    "marks": _f(N),
    "negative_marks": _f(N),
    "review": _f("bool"),
    "guessed": _f("bool"),
    "selected_answers": _f("list"),
    "question_text": _f(S),
}

ATTEMPT_FIELDS: dict[str, FieldSpec] = {
    "id": _f(N),
    "date": _f(T),
    "exam_id": _f(N),
    "user_id": _f(N),
    "email": _f(S),
    "name": _f(S),
    "phone": _f(S),
    "correct_answers_count": _f(N),
    "incorrect_answers_count": _f(N),
    "unanswered_count": _f(N),
    "score": _f(N),
    "percentage": _f(N),
    "time_taken": _f(N),
    "remaining_time": _f(N),
    "result": _f(S, values=RESULTS),
    "state": _f(S),
    "last_started_time": _f(T),
    "last_answer_updated_time": _f(T),
    "speed": _f(N),
    "exam_url": _f(S),
    "user_url": _f(S),
    "percentile": _f(N, "detail"),
    "username": _f(S, "detail"),
    "sections": _f("list", "detail", SECTION_FIELDS),
    "subject_stats": _f("list", "detail", SUBJECT_FIELDS),
    "difficulty_level_stats": _f("object", "detail"),
    "institute_attempt_id": _f(N, "detail"),
    "exam_title": _f(S, "lookup"),
    "student": _f(S, "lookup"),
    "answers": _f("list", "answers", ANSWER_FIELDS),
}

CONTENT_ATTEMPT_FIELDS: dict[str, FieldSpec] = {
    "id": _f(N),
    "user_id": _f(N),
    "course_id": _f(N),
    "chapter_id": _f(N),
    "chapter_content_id": _f(N),
    "content_type": _f(S, values=CONTENT_TYPES),
    "state": _f(S, values=CONTENT_FINAL_STATES),
    "created": _f(T),
    "completed_on": _f(T),
    "remaining_time": _f(N),
    "correct_answers_count": _f(N),
    "incorrect_answers_count": _f(N),
    "title": _f(S),
    "course_title": _f(S),
    "username": _f(S),
    "email": _f(S),
    "student": _f(S),
    "watched_percentage": _f(N),
    "percentage": _f(N),
    "result": _f(S, values=RESULTS),
    "rank": _f(N),
    "total_score": _f(N),
}

CONFERENCE_ATTENDANCE_FIELDS: dict[str, FieldSpec] = {
    "conference_id": _f(N),
    "conference_title": _f(S),
    "name": _f(S),
    "email": _f(S),
    "student": _f(S),
    "join_time": _f(T),
    "leave_time": _f(T),
    "duration": _f(N),
    "sessions": _f(N),
}

# Contract section 11: one per student and quiet spell, from the daily check.
STUDENT_INACTIVE_FIELDS: dict[str, FieldSpec] = {
    "user_id": _f(N),
    "student": _f(S),
    "email": _f(S),
    "days_inactive": _f(N),
    "last_activity": _f(T),
    "last_activity_kind": _f(S),
    "last_activity_title": _f(S),
}

HEALTH_FIELDS: dict[str, FieldSpec] = {
    "problem": _f(S, values=HEALTH_PROBLEMS),
    "subject": _f(S),  # the source, the rules file, or the channel
    "detail": _f(S),
    "since": _f(T),
    "resolved": _f("bool"),  # false when it starts, true once when it ends
}

# What people did to alerts (contract section 13; notifier.sources.actions).
FOLLOWED_UP_FIELDS: dict[str, FieldSpec] = {
    "delivery": _f(S),  # the delivery id followed up
    "rule": _f(S),
    "channel": _f(S),
    "student": _f(S),  # the student(s) the alert was about, by name
    "user_id": _f(S),  # their user id(s) (or email), comma-separated for a group
    "by": _f(S),  # the Slack user id or console user
    "by_name": _f(S),
    "at": _f(T),
}
MUTE_FIELDS: dict[str, FieldSpec] = {
    "id": _f(S),
    "student": _f(S),  # a user id or an email; null: every student
    "rule": _f(S),  # null: every rule
    "channel": _f(S),  # null: every channel
    "until": _f(T),
    "by": _f(S),
    "reason": _f(S),
    "created_at": _f(T),
    "ended_at": _f(T),  # mute.ended: when it was lifted or ran out
    "ended_by": _f(S),  # mute.ended: who lifted it (null: it ran out)
    "lifted": _f("bool"),  # mute.ended: true when lifted before `until`
}

EVENT_KINDS: dict[str, dict[str, FieldSpec]] = {
    "attempt.completed": ATTEMPT_FIELDS,
    "content_attempt.completed": CONTENT_ATTEMPT_FIELDS,
    "conference.attendance": CONFERENCE_ATTENDANCE_FIELDS,
    "student.inactive": STUDENT_INACTIVE_FIELDS,
    "notifier.health": HEALTH_FIELDS,
    "alert.followed_up": FOLLOWED_UP_FIELDS,
    "mute.created": MUTE_FIELDS,
    "mute.ended": MUTE_FIELDS,
}


@dataclass(frozen=True, slots=True)  # a backlog holds one per new attempt
class Kept:
    """One event as the history keeps it (contract section 11): compact, so a year of a
    large institute stays small. `fields` holds only the fields rules compare (nulls
    left out); `subject` is the student (the user id, or the lower-cased email where
    the event has no user id); `fired` names the `repeat` rules that fired on it, so
    their count starts again after it. `student` and `email` are not kept with the
    event: they only refresh the student's last activity (the inactivity check)."""

    kind: str
    key: str
    at: float  # Unix seconds
    subject: str | None
    title: str | None
    fields: dict[str, FieldValue] = field(hash=False, compare=False)
    fired: tuple[str, ...] = ()
    student: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Activity:
    """A student's latest activity, for the daily `student.inactive` check."""

    user_id: str
    at: float
    kind: str
    title: str | None
    student: str | None
    email: str | None


def best_label(*candidates: object, user_id: object = None) -> str | None:
    """The best human label for a student: the first non-blank candidate, else
    `user <id>`, else None."""
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return value.strip()
    if user_id is not None:
        return f"user {user_id}"
    return None


# -- the shapes of values, named once ------------------------------------------------
# JSON as parsed, read-only (Mapping and Sequence, so a `dict[str, int]` is one): what
# enters from outside (Testpress pages, pushed bodies, Slack payloads) and what a state
# blob or a history entry holds. An event's field values are the same shapes (numbers,
# strings, booleans, null, lists of objects, objects; times as ISO text), so rules and
# renderers read `Mapping[str, FieldValue]`; only the edges that parse outside JSON
# hold it untyped, until a typed model is made of it right there.
JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = "JSONScalar | Sequence[JSONValue] | Mapping[str, JSONValue]"
JSONObject: TypeAlias = Mapping[str, JSONValue]
FieldValue: TypeAlias = JSONValue
EventData: TypeAlias = Mapping[str, FieldValue]
