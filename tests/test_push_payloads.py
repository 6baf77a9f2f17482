"""Testpress's webhook payloads: the hash as the notes define it, and what a payload
says in the admin API's record shapes (notifier.testpress.push)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from notifier.testpress.push import PushKeys, content_page, exam_record, sign, verify

KEYS = PushKeys("pub/key+1", SecretStr("priv&key=2"))


def exam_payload(**over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "attempt_id": 123,
        "user_id": 7,
        "username": "asha",
        "email": "asha@school.example",
        "exam": {"id": 4, "title": "Physics Mock", "duration": "1:00:00"},
        "correct_answers_count": 5,
        "incorrect_answers_count": 3,
        "unanswered_answers_count": 2,
        "partial_correct_answers_count": 0,
        "score": "4.25",
        "percentage": "50.00",
        "accuracy": 62,
        "speed": 80,
        "subject_stats": [],
        "difficulty_level_stats": {},
        "completed_on": "2026-12-01T06:00:00Z",
        "attempt_start_time": "2026-12-01T05:00:00Z",
        "institute_attempt_id": 100123,
        "attempt_state": "completed",
    }
    payload.update(over)
    return payload


def content_payload(**over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "attempt_id": 88,
        "user_id": 7,
        "chapter_content": {"id": 12, "title": "Optics", "content_type": "Video", "exam": None},
        "course": {"id": 3, "title": "Physics"},
        "assessment": None,
        "user_video": {"id": 51, "watched_percentage": 80, "is_live_class_recording": False},
        "user_video_conference": None,
        "state": "Completed",
        "created": "2026-12-01T05:00:00+05:30",
        "completed_on": "2026-12-01T05:30:00+05:30",
    }
    payload.update(over)
    return payload


def hmac_hex(private: str, text: str) -> str:
    return hmac.new(private.encode(), text.encode(), hashlib.sha512).hexdigest()


def test_exam_hash_is_the_documented_fields_in_the_documented_order() -> None:
    """Written out by hand from the notes, independently of the module's field list."""
    q = lambda v: quote(str(v), safe="")  # noqa: E731
    text = "|".join(q(v) for v in ["pub/key+1", 123, 5, "priv&key=2", 3, 2, "50.00", "4.25", 7])
    payload = {**exam_payload(), "key": "pub/key+1", "hash": hmac_hex("priv&key=2", text)}
    assert verify("exam", payload, KEYS) == "ok"
    assert sign("exam", exam_payload(), KEYS)["hash"] == payload["hash"]


def test_content_hash_reads_state_not_the_docs_status() -> None:
    q = lambda v: quote(str(v), safe="")  # noqa: E731
    text = "|".join(q(v) for v in ["pub/key+1", 88, 12, 7, 3, "priv&key=2", "Completed"])
    payload = {**content_payload(), "key": "pub/key+1", "hash": hmac_hex("priv&key=2", text)}
    assert verify("chapter-content", payload, KEYS) == "ok"


def test_the_unencoded_reading_is_accepted_too() -> None:
    text = "|".join(["pub/key+1", "123", "5", "priv&key=2", "3", "2", "50.00", "4.25", "7"])
    payload = {**exam_payload(), "key": "pub/key+1", "hash": hmac_hex("priv&key=2", text)}
    assert verify("exam", payload, KEYS) == "ok"


@pytest.mark.parametrize(
    "change",
    [
        {"score": "9.25"},  # a replay with a better score
        {"percentage": "99.00"},
        {"correct_answers_count": 6},
        {"user_id": 8},
        {"attempt_id": 124},
    ],
)
def test_a_changed_hashed_value_fails(change: dict[str, Any]) -> None:
    signed = sign("exam", exam_payload(), KEYS)
    assert verify("exam", {**signed, **change}, KEYS) == "bad_hash"


def test_unhashed_fields_may_change_hashed_names_from_the_docs_do_not_count() -> None:
    signed = sign("exam", exam_payload(), KEYS)
    # Not covered by the hash: a field the docs misspell is not read at all.
    assert verify("exam", {**signed, "incorrct_answers_count": 99, "speed": 1}, KEYS) == "ok"
    assert verify("exam", {**signed, "incorrect_answers_count": 99}, KEYS) == "bad_hash"
    content = sign("chapter-content", content_payload(), KEYS)
    assert verify("chapter-content", {**content, "status": "Started"}, KEYS) == "ok"
    assert verify("chapter-content", {**content, "state": "Started"}, KEYS) == "bad_hash"


def test_refusals() -> None:
    signed = sign("exam", exam_payload(), KEYS)
    assert verify("exam", {**signed, "key": "someone-else"}, KEYS) == "wrong_key"
    assert verify("exam", {k: v for k, v in signed.items() if k != "key"}, KEYS) == "wrong_key"
    assert verify("exam", {k: v for k, v in signed.items() if k != "hash"}, KEYS) == "bad_hash"
    assert verify("exam", {**signed, "hash": 12}, KEYS) == "bad_hash"
    missing = {k: v for k, v in signed.items() if k != "score"}
    assert verify("exam", missing, KEYS) == "bad_hash"
    # Signed with another private key: the digest matches under no reading.
    other = sign("exam", exam_payload(), PushKeys("pub/key+1", SecretStr("another")))
    assert verify("exam", other, KEYS) == "bad_hash"
    # The exam reading does not verify a content payload, nor the other way round.
    assert verify("chapter-content", signed, KEYS) == "bad_hash"
    assert verify("exam", {**signed, "score": {"nested": 1}}, KEYS) == "bad_hash"


def test_exam_record_holds_only_what_the_payload_says_in_api_names() -> None:
    record = exam_record(exam_payload())
    assert record["id"] == 123
    assert record["exam_id"] == 4
    assert record["exam_title"] == "Physics Mock"
    assert record["unanswered_count"] == 2
    assert record["date"] == "2026-12-01T05:00:00Z"
    assert record["state"] == "Completed"
    for absent in ("result", "percentile", "name", "sections", "unanswered_answers_count"):
        assert absent not in record
    assert exam_record(exam_payload(attempt_state="started"))["state"] == "Running"


def test_content_page_is_a_list_page_with_its_side_loads() -> None:
    page = content_page(content_payload())
    (attempt,) = page["content_attempts"]
    assert attempt["id"] == 88
    assert attempt["chapter_content_id"] == 12
    assert attempt["course_id"] == 3
    assert attempt["user_video_id"] == 51
    assert page["user_videos"][0]["watched_percentage"] == 80
    assert page["chapter_contents"][0]["title"] == "Optics"
    assert page["courses"][0]["title"] == "Physics"
    assert page["user_exams"] == []
    exam = {"id": 9, "percentage": "40.00", "result": "Fail", "number_of_correct_answers": 4}
    page = content_page(content_payload(assessment=exam, user_video=None))
    assert page["content_attempts"][0]["assessment_id"] == 9
    assert page["content_attempts"][0]["correct_answers_count"] == 4
