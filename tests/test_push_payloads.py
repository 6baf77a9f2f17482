"""Testpress's webhook payloads: the hash as the notes define it, and what a payload
is kept of one (notifier.testpress.push)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from notifier.testpress.push import (
    PushKeys,
    kept_payload,
    pushed_state,
    received_key,
    sign,
    verify,
)

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


def test_only_the_signed_values_and_the_state_are_kept_however_padded() -> None:
    padded = {**sign("exam", exam_payload(), KEYS), "padding": "x" * 900_000}
    padded["exam"] = {"id": 4, "title": "T" * 10_000}
    kept = kept_payload("exam", padded)
    assert kept == {
        "attempt_id": 123,
        "correct_answers_count": 5,
        "incorrect_answers_count": 3,
        "unanswered_answers_count": 2,
        "percentage": "50.00",
        "score": "4.25",
        "user_id": 7,
        "attempt_state": "completed",
    }
    content = kept_payload("chapter-content", sign("chapter-content", content_payload(), KEYS))
    assert content == {
        "attempt_id": 88,
        "chapter_content": {"id": 12},
        "user_id": 7,
        "course": {"id": 3},
        "state": "completed",
    }


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        ("completed", "completed"),
        (" Completed ", "completed"),
        ("started", "started"),
        ("completed" + " " * 100, "other"),  # padded past any real state
        ("finished", "other"),
        (None, "other"),
        (["completed"], "other"),
    ],
)
def test_the_exam_state_is_normalised_to_three_values(state: Any, kept: str) -> None:
    assert pushed_state("exam", exam_payload(attempt_state=state)) == kept


def test_the_received_key_is_attempt_state_and_hash() -> None:
    signed = sign("exam", exam_payload(attempt_state="started"), KEYS)
    flipped = {**signed, "attempt_state": "completed"}
    real = sign("exam", exam_payload(score="9.00"), KEYS)
    digest = signed["hash"]
    assert received_key("exam", signed) == f"123:started:{digest}"
    # The same body, its hash in capitals or padded (both still verify): the same key.
    assert received_key("exam", {**signed, "hash": f" {digest.upper()} "}) == (
        received_key("exam", signed)
    )
    assert received_key("exam", {**signed, "attempt_state": " STARTED"}) == (
        received_key("exam", signed)
    )
    # A started body made to say completed is not the real completion.
    assert received_key("exam", flipped) != received_key("exam", real)
