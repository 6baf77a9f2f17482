"""Tolerant typed models of what the Testpress admin API returns.

Every field but `id` may be missing or null; unknown fields are kept (`extra="allow"`)
and passed on to rules by `to_data()`; `"NA"`, `"N/A"` and `""` are null in every field;
numbers, durations and times are coerced by `notifier.testpress.parse`. A record that
still does not fit (not an object, no usable id, a value of the wrong kind) is logged
and skipped by `parse_records` without losing the rest of the page. Every string is
made safe (`notifier.testpress.safetext`) by the base model's validator, so odd text from Testpress
stops here, whether it came by poll or by push.
"""

from __future__ import annotations

import logging
from typing import Annotated, Generic, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from notifier.events import FieldValue
from notifier.testpress.parse import (
    any_null_string,
    null_strings_to_none,
    question_text,
    to_count,
    to_float,
    to_id,
    to_ref,
    to_seconds,
    to_text,
    to_time,
)
from notifier.testpress.safetext import clean_deep

__all__ = [
    "Attempt",
    "AttemptDetail",
    "ChapterContent",
    "ConferenceRow",
    "ContentAttempt",
    "Course",
    "Exam",
    "ExamQuestion",
    "Section",
    "SubjectStat",
    "TestpressModel",
    "User",
    "UserAnswer",
    "UserExam",
    "UserVideo",
    "UserVideoConference",
    "VideoConference",
    "parse_records",
    "question_text",
]

log = logging.getLogger(__name__)


Id = Annotated[int, BeforeValidator(to_id)]
Ref = Annotated[int | None, BeforeValidator(to_ref)]  # an id pointing elsewhere
Count = Annotated[int | float | None, BeforeValidator(to_count)]
Number = Annotated[float | None, BeforeValidator(to_float)]
Seconds = Annotated[float | None, BeforeValidator(to_seconds)]
Time = Annotated[str | None, BeforeValidator(to_time)]
Text = Annotated[str | None, BeforeValidator(to_text)]


class TestpressModel(BaseModel):
    """Base of every model: unknown fields kept, "NA"/"" null everywhere, and every
    string (nested ones and extras too) safe for any store, channel and log
    (`notifier.testpress.safetext`: NUL, other controls and lone surrogates become U+FFFD)."""

    __test__ = False  # not a pytest test class, despite the name
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _null_strings(cls, data: object, info: ValidationInfo) -> object:
        # Runs for every record: copy the dict only when some value is a null string.
        # Odd text first, so a field made of control characters is not mistaken for
        # text by the null check (no field escapes), unless known clean (`parse_records`).
        if info.context is not _CLEANED:
            data = clean_deep(data)
        if isinstance(data, dict) and any_null_string(data.values()):
            return {key: null_strings_to_none(v) for key, v in data.items()}
        return data

    def to_data(self) -> dict[str, FieldValue]:
        """The record as event fields: contract names, extras included, nested models
        as plain dicts."""
        return self.model_dump(mode="python")


M = TypeVar("M", bound=TestpressModel)
_CLEANED: dict[str, bool] = {"cleaned": True}  # context: text safe already (client, parent)


def parse_records(
    model: type[M], raw: object, *, where: str, cleaned: bool = False, start: int = 0
) -> list[M]:
    """Validate each record of `raw` (a list) as `model`. A malformed record is logged at
    WARNING (where, its index, its id if any, which fields were wrong and why) and
    skipped; the others are returned in order. `cleaned`: its text is safe already;
    `start`: the first record's index in its page (for the warning)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        log.warning("%s: expected a list of %s records, got %s", where, model.__name__, _kind(raw))
        return []
    records: list[M] = []
    for index, item in enumerate(raw, start):
        if not isinstance(item, dict):
            log.warning(
                "%s: skipped malformed %s record #%d: not an object (%s)",
                where,
                model.__name__,
                index,
                _kind(item),
            )
            continue
        try:
            records.append(model.model_validate(item, context=_CLEANED if cleaned else None))
        except ValidationError as exc:
            log.warning(
                "%s: skipped malformed %s record #%d (id %s): %s",
                where,
                model.__name__,
                index,
                _short(item.get("id")),
                _summary(exc),
            )
        except Exception as exc:  # noqa: BLE001 - one odd record never stops a page
            log.warning(
                "%s: skipped malformed %s record #%d (id %s): %s",
                where,
                model.__name__,
                index,
                _short(item.get("id")),
                type(exc).__name__,
            )
    return records


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _summary(exc: ValidationError) -> str:
    """Which fields and why. Pydantic's echo of the whole input is left out (a record
    holds personal data); our coercions quote only a short bad value."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in error["loc"]) or "record"
        parts.append(f"{loc}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class Records(Generic[M]):
    """A nested list of records, validated item by item like a page: one bad section
    does not lose the attempt. (A class, so `notifier.testpress.plain` can tell it.)"""

    def __init__(self, model: type[M], where: str) -> None:
        self.model = model
        self.where = where

    def __call__(self, value: object) -> list[M] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {_kind(value)}")
        # Its parent cleaned it.
        return parse_records(self.model, value, where=self.where, cleaned=True)


# -- exam attempts ------------------------------------------------------------------------


class Section(TestpressModel):
    id: Ref = None
    order: Count = None
    section_id: Ref = None
    time_taken: Seconds = None
    correct_answers_count: Count = None
    incorrect_answers_count: Count = None
    unanswered_count: Count = None
    score: Number = None


class SubjectStat(TestpressModel):
    subject_id: Ref = None
    subject_name: Text = None
    total_count: Count = None
    correct_answers_count: Count = None
    unanswered_count: Count = None
    incorrect_answers_count: Count = None
    parent_subject_id: Ref = None
    is_leaf: bool | None = None
    score: Number = None
    partial_correct_answers_count: Count = None


class Attempt(TestpressModel):
    """A row of `GET /api/v2.5/admin/attempts/`."""

    id: Id
    date: Time = None
    exam_id: Ref = None
    user_id: Ref = None
    email: Text = None
    name: Text = None
    phone: Text = None
    correct_answers_count: Count = None
    incorrect_answers_count: Count = None
    unanswered_count: Count = None
    score: Number = None
    percentage: Number = None
    time_taken: Seconds = None
    remaining_time: Seconds = None
    result: Text = None
    state: Text = None
    last_started_time: Time = None
    last_answer_updated_time: Time = None
    speed: Number = None
    exam_url: Text = None
    user_url: Text = None


class AttemptDetail(Attempt):
    """`GET /api/v2.5/admin/attempts/<id>/`: the list row plus the detail-only fields."""

    percentile: Number = None
    username: Text = None
    sections: Annotated[
        list[Section] | None, BeforeValidator(Records(Section, "attempt sections"))
    ] = None
    subject_stats: Annotated[
        list[SubjectStat] | None,
        BeforeValidator(Records(SubjectStat, "attempt subject_stats")),
    ] = None
    difficulty_level_stats: dict[str, object] | None = None  # as Testpress sends it
    institute_attempt_id: Ref = None


class UserAnswer(TestpressModel):
    """`results.user_answers[]` of `GET /api/v3/admin/attempts/<id>/user_answers/`."""

    id: Id
    exam_question_id: Ref = None
    selected_answers: list[object] | None = None
    result: Text = None
    duration: Seconds = None
    review: bool | None = None
    guessed: bool | None = None


class ExamQuestion(TestpressModel):
    """`results.exam_questions[]` of the user-answers endpoint."""

    id: Id
    question_id: Ref = None
    section_id: Ref = None
    question_html: Text = None
    type: Text = None
    marks: Number = None
    negative_marks: Number = None
    partial_marks: Number = None
    direction: object = None  # these three pass through as Testpress sends them
    answers: list[object] | None = None
    difficulty_level: object = None
    order: Count = None
    is_bonus: bool | None = None
    exam_id: Ref = None


class User(TestpressModel):
    """`GET /api/v2.5/admin/users/<id>/`."""

    id: Id
    display_name: Text = None
    first_name: Text = None
    last_name: Text = None
    username: Text = None
    email: Text = None


class Exam(TestpressModel):
    """`GET /api/v2.5/admin/exams/<id>/`."""

    id: Id
    title: Text = None
    duration: Seconds = None
    pass_percentage: Number = None
    show_percentile: bool | None = None


# -- chapter-content attempts (v3) -----------------------------------------------------------


class ContentAttempt(TestpressModel):
    """`results.content_attempts[]` of `GET /api/v3/admin/chapter-content-attempts/`."""

    id: Id
    user_id: Ref = None
    course_id: Ref = None
    chapter_id: Ref = None
    chapter_content_id: Ref = None
    content_type: Text = None
    state: Text = None
    remaining_time: Seconds = None
    assessment_id: Ref = None
    user_video_conference_id: Ref = None
    user_video_id: Ref = None
    user_live_stream_id: Ref = None
    user_content_id: Ref = None
    user_attachment_id: Ref = None
    correct_answers_count: Count = None
    incorrect_answers_count: Count = None
    created: Time = None
    completed_on: Time = None


class UserVideo(TestpressModel):
    id: Id
    video_id: Ref = None
    created: Time = None
    watched_percentage: Number = None
    remaining_duration: Seconds = None
    state: Text = None
    is_live_class_recording: bool | None = None


class UserExam(TestpressModel):
    id: Id
    exam_id: Ref = None
    user_id: Ref = None
    total_score: Number = None
    number_of_correct_answers: Count = None
    number_of_incorrect_answers: Count = None
    number_of_unanswered_questions: Count = None
    number_of_answered_questions: Count = None
    percentage: Number = None
    rank: Count = None
    result: Text = None
    total_questions: Count = None


class Course(TestpressModel):
    id: Id
    title: Text = None
    slug: Text = None
    created: Time = None
    modified: Time = None


class ChapterContent(TestpressModel):
    id: Id
    order: Count = None
    chapter_id: Ref = None
    title: Text = None
    course_id: Ref = None
    exam_id: Ref = None
    content_id: Ref = None
    video_id: Ref = None
    attachment_id: Ref = None
    content_type: Text = None
    start: Time = None
    end: Time = None


class VideoConference(TestpressModel):
    """The conference nested in a user video conference; its `id` is what the
    attendance endpoint takes."""

    id: Id
    title: Text = None
    conference_id: Text = None  # the provider's meeting id
    start: Time = None
    duration: Number = None  # unit undocumented: passed on as sent
    provider: Text = None
    state: Text = None


class UserVideoConference(TestpressModel):
    id: Id
    user_id: Ref = None
    duration: Seconds = None
    join_time: Time = None
    leave_time: Time = None
    video_conference: VideoConference | None = None


# -- live-class attendance ----------------------------------------------------------------


class ConferenceRow(TestpressModel):
    """A row of `GET /api/v3/admin/attempts/<conference id>/video-conference/`. Rows have
    no id; the docs' field table says `joined_time` where samples say `join_time`."""

    name: Text = None
    email: Text = None
    join_time: Time = Field(None, validation_alias=AliasChoices("join_time", "joined_time"))
    leave_time: Time = None
    duration: Seconds = None
