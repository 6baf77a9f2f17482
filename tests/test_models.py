"""Tolerant models: what rules see of what the Testpress API really sends."""

from __future__ import annotations

import logging

import pytest

from notifier.testpress.models import (
    Attempt,
    AttemptDetail,
    ConferenceRow,
    ContentAttempt,
    Exam,
    ExamQuestion,
    User,
    UserAnswer,
    UserExam,
    UserVideoConference,
    parse_records,
    question_text,
)
from notifier.testpress.parse import to_count, to_float, to_seconds, to_text, to_time

# The single-attempt sample of the docs, trimmed.
DETAIL = {
    "id": 1,
    "date": "2023-01-23T11:35:37.930389+05:30",
    "exam_id": 2,
    "user_id": 2,
    "email": "hariharan@testpress.in",
    "name": None,
    "phone": None,
    "correct_answers_count": 0,
    "incorrect_answers_count": 1,
    "unanswered_count": 79,
    "score": "0.00",
    "percentage": 0,
    "percentile": 100.0,
    "time_taken": "2:47:53.076906",
    "remaining_time": "0:00:00",
    "result": "Fail",
    "state": "Completed",
    "last_started_time": "2023-04-02T15:27:46.453786+05:30",
    "last_answer_updated_time": None,
    "speed": 0,
    "username": "admin",
    "sections": [{"id": 1, "order": 0, "section_id": 2, "time_taken": "0:00:00", "score": "0.00"}],
    "subject_stats": [
        {"subject_id": None, "subject_name": "History", "total_count": 4, "score": "-1.50"}
    ],
    "difficulty_level_stats": {"easy": {"total_count": 70}},
    "institute_attempt_id": 100101,
}


def test_the_documented_detail_becomes_event_fields():
    data = AttemptDetail.model_validate(DETAIL).to_data()
    assert data["score"] == 0.0
    assert data["percentage"] == 0.0
    assert data["time_taken"] == 10073.08
    assert data["remaining_time"] == 0.0
    assert data["date"] == "2023-01-23T11:35:37.930389+05:30"
    assert data["unanswered_count"] == 79 and isinstance(data["unanswered_count"], int)
    assert data["sections"] == [
        {
            "id": 1,
            "order": 0,
            "section_id": 2,
            "time_taken": 0.0,
            "correct_answers_count": None,
            "incorrect_answers_count": None,
            "unanswered_count": None,
            "score": 0.0,
        }
    ]
    assert data["subject_stats"][0]["subject_name"] == "History"
    assert data["subject_stats"][0]["score"] == -1.5
    assert data["subject_stats"][0]["subject_id"] is None
    assert data["difficulty_level_stats"] == {"easy": {"total_count": 70}}


@pytest.mark.parametrize(
    ("sent", "seen"),
    [("90.00", 90.0), (90, 90.0), ("0", 0.0), (" 7.5 ", 7.5), ("NA", None), ("", None)],
)
def test_numbers_in_strings_become_numbers(sent, seen):
    assert Attempt.model_validate({"id": 1, "score": sent}).to_data()["score"] == seen


def test_counts_stay_integers():
    data = Attempt.model_validate({"id": "12", "correct_answers_count": "220"}).to_data()
    assert data["id"] == 12
    assert data["correct_answers_count"] == 220
    assert isinstance(data["correct_answers_count"], int)


@pytest.mark.parametrize(
    ("sent", "seconds"),
    [
        ("2:47:53.076906", 10073.08),
        ("1 day, 2:03:04", 93784.0),
        ("2 days, 0:00:01", 172801.0),
        ("1 02:03:04", 93784.0),  # Django's duration format
        ("0:00:00", 0.0),
        ("0.00", 0.0),
        (95, 95.0),
        ("NA", None),
        (None, None),
    ],
)
def test_durations_become_seconds(sent, seconds):
    assert Attempt.model_validate({"id": 1, "time_taken": sent}).to_data()["time_taken"] == seconds


@pytest.mark.parametrize(
    ("sent", "iso"),
    [
        ("2021-03-16T03:59:21.860924Z", "2021-03-16T03:59:21.860924+00:00"),
        ("2023-01-23T11:35:37.930389+05:30", "2023-01-23T11:35:37.930389+05:30"),
        ("2024-06-10T16:20:26", "2024-06-10T16:20:26+00:00"),  # naive: taken as UTC
        ("", None),
    ],
)
def test_times_keep_their_offset(sent, iso):
    assert Attempt.model_validate({"id": 1, "date": sent}).to_data()["date"] == iso


@pytest.mark.parametrize("null", ["NA", "N/A", "", "na", "  ", "NA    ", "    n/a", " Na "])
def test_na_and_empty_strings_are_null_in_every_field(null):
    data = AttemptDetail.model_validate(
        {"id": 1, "result": null, "percentile": null, "email": null, "brand_new": null}
    ).to_data()
    assert data["result"] is None
    assert data["percentile"] is None
    assert data["email"] is None
    assert data["brand_new"] is None


def test_unknown_fields_are_kept():
    data = Attempt.model_validate(
        {"id": 1, "proctoring": {"flags": 2}, "rank_in_batch": "3"}
    ).to_data()
    assert data["proctoring"] == {"flags": 2}
    assert data["rank_in_batch"] == "3"


def test_a_phone_sent_as_a_number_is_text():
    assert Attempt.model_validate({"id": 1, "phone": 9876543210}).phone == "9876543210"


def test_bad_records_are_skipped_and_logged_without_losing_the_page(caplog):
    caplog.set_level(logging.WARNING)
    raw: list[object] = [{"id": i, "score": "1.0", "state": "Completed"} for i in range(10)]
    raw[2] = "not a record"
    raw[5] = {"id": 5, "score": "ninety"}
    raw[8] = {"score": "1.0"}  # no id
    records = parse_records(Attempt, raw, where="/api/v2.5/admin/attempts/")
    assert [r.id for r in records] == [0, 1, 3, 4, 6, 7, 9]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all("/api/v2.5/admin/attempts/" in w for w in warnings)
    assert "#2" in warnings[0] and "not an object" in warnings[0]
    assert "#5" in warnings[1] and "id 5" in warnings[1] and "score" in warnings[1]
    assert "#8" in warnings[2] and "id" in warnings[2]


def test_a_page_that_is_not_a_list_gives_no_records(caplog):
    assert parse_records(Attempt, {"id": 1}, where="attempts") == []
    assert parse_records(Attempt, None, where="attempts") == []
    assert "expected a list" in caplog.text


def test_one_bad_section_does_not_lose_the_attempt(caplog):
    detail = AttemptDetail.model_validate(
        {**DETAIL, "sections": [{"id": 1, "score": "1"}, 7, {"id": 3, "score": "x"}]}
    )
    assert [s.id for s in detail.sections or []] == [1]
    assert "attempt sections" in caplog.text


def test_conference_rows_accept_joined_time():
    docs = ConferenceRow.model_validate(
        {"name": "deva", "email": "deva@testpress.in", "joined_time": "2024-06-10T16:20:26+05:30"}
    )
    sample = ConferenceRow.model_validate(
        {"name": "deva", "join_time": "2024-06-10T16:20:26+05:30", "duration": "120"}
    )
    assert docs.join_time == sample.join_time == "2024-06-10T16:20:26+05:30"
    assert sample.to_data()["duration"] == 120.0
    assert "joined_time" not in docs.to_data()


def test_content_attempt_side_loads():
    attempt = ContentAttempt.model_validate(
        {"id": 27, "content_type": "assessment", "remaining_time": "0.00", "assessment_id": 55}
    )
    assert attempt.remaining_time == 0.0 and attempt.assessment_id == 55
    exam = UserExam.model_validate({"id": 56, "percentage": "0.00", "rank": "NA", "result": "NA"})
    assert (exam.percentage, exam.rank, exam.result) == (0.0, None, None)
    assert UserExam.model_validate({"id": 56, "rank": 4}).rank == 4
    uvc = UserVideoConference.model_validate(
        {
            "id": 3,
            "join_time": None,
            "video_conference": {"id": 12, "title": "Live: Optics", "conference_id": 81234},
        }
    )
    assert uvc.video_conference is not None
    assert uvc.to_data()["video_conference"]["id"] == 12
    assert uvc.to_data()["video_conference"]["conference_id"] == "81234"


def test_user_exam_and_answer_models():
    user = User.model_validate({"id": 2, "display_name": "Asha Verma", "email": None})
    assert user.display_name == "Asha Verma"
    exam = Exam.model_validate({"id": 2, "title": "Algebra", "duration": "3:00:00"})
    assert exam.duration == 10800.0
    answer = UserAnswer.model_validate(
        {"id": 476, "exam_question_id": 39, "selected_answers": [6], "duration": 5}
    )
    assert (answer.duration, answer.guessed, answer.selected_answers) == (5.0, None, [6])
    question = ExamQuestion.model_validate({"id": 39, "marks": "1.00", "negative_marks": "0.25"})
    assert (question.marks, question.negative_marks) == (1.0, 0.25)


def test_question_text_is_plain_text():
    html = (
        "<style type='text/css'>\n  p { color: red }\n</style>\n"
        "<p>Where is&nbsp;Paris &amp; Rome&#39;s   river?</p><script>alert(1)</script>"
        "<p>A<br>B</p>"
    )
    assert question_text(html) == "Where is Paris & Rome's river? A B"
    assert question_text("") == ""
    assert question_text(None) == ""


def test_a_time_out_of_range_skips_only_its_record(caplog) -> None:
    """Found by the property tests: a huge number in a time field raised OverflowError,
    which took the whole page (and the source) down."""
    from notifier.testpress.models import Attempt, parse_records

    good = {"id": 2, "date": "2026-01-01T00:00:00Z"}
    parsed = parse_records(Attempt, [{"id": 1, "date": 67_768_036_191_676_800}, good], where="t")
    assert [a.id for a in parsed] == [2]
    assert "not a possible time" in caplog.text


@pytest.mark.parametrize("null", ["NA", "N/A", "", "na", "   ", "NA    ", "    n/a", " Na "])
@pytest.mark.parametrize("coerce", [to_text, to_time, to_seconds, to_float, to_count])
def test_every_coercion_reads_padded_null_strings_as_null(coerce, null):
    """Each coercion on its own (as a nested record's field sees it), not only after
    the model's null pass: a short or padded text is checked for null, however long."""
    assert coerce(null) is None


@pytest.mark.parametrize(
    ("coerce", "sent", "kept"),
    [
        (to_text, "NAME", "NAME"),
        (to_text, " NAB", " NAB"),
        (to_text, "Pass", "Pass"),
        (to_time, "2024-06-10T16:20:26Z", "2024-06-10T16:20:26+00:00"),
        (to_time, " 2024-06-10T16:20:26Z ", "2024-06-10T16:20:26+00:00"),
        (to_seconds, "0:01:51", 111.0),
        (to_seconds, " 0:01:51 ", 111.0),
    ],
)
def test_texts_that_only_look_short_or_padded_are_kept(coerce, sent, kept):
    assert coerce(sent) == kept
