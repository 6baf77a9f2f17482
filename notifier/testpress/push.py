"""Testpress's own webhooks (contract section 10): the payloads, their `hash`, and what
each says in the admin API's own record shapes.

Pure: no I/O. The server checks a payload with `verify` before anything is recorded;
the sources turn `exam_record` / `content_page` into the very event a poll would make
(the same models, the same join), so push and poll never disagree on a field.

The hash (testpress-api-notes.md, "Testpress's own webhooks"): HMAC-SHA512 keyed with
the institute's private key, hex digest, over these values joined with `|`, each
percent-encoded (`urllib.parse.quote(str(value), safe="")`):

- exam: public key, attempt_id, correct_answers_count, private key,
  incorrect_answers_count, unanswered_answers_count, percentage, score, user_id;
- chapter content: public key, attempt_id, chapter_content.id, user_id, course.id,
  private key, state.

Testpress's docs spell three of these differently from the payload
(`incorrct_answers_count`, `unanswered_count`, and `status` for the content state);
the payload's names are the ones read here. The docs leave the encoding ambiguous, so
the digest of the unencoded values is accepted too, and nothing else: a payload whose
digest matches under neither reading is refused. Both the key and the digest are
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from pydantic import SecretStr

from notifier.testpress.models import TestpressModel, _optional_id

Kind = Literal["exam", "chapter-content"]
KINDS: tuple[Kind, ...] = ("exam", "chapter-content")

# A marker in the field lists below: where the private key goes.
_PRIVATE = object()
_PUBLIC = object()
# Payload paths (a dotted name reads a nested object) in the order the hash joins them.
HASHED_FIELDS: dict[Kind, tuple[object, ...]] = {
    "exam": (
        _PUBLIC,
        "attempt_id",
        "correct_answers_count",
        _PRIVATE,
        "incorrect_answers_count",  # the docs: incorrct_answers_count
        "unanswered_answers_count",  # the docs: unanswered_count
        "percentage",
        "score",
        "user_id",
    ),
    "chapter-content": (
        _PUBLIC,
        "attempt_id",
        "chapter_content.id",
        "user_id",
        "course.id",
        _PRIVATE,
        "state",  # the docs: status
    ),
}


@dataclass(frozen=True)
class PushKeys:
    """The institute's webhook keys: `public` is sent in every payload as `key`;
    `private` signs it and is a secret."""

    public: str
    private: SecretStr


class Unverifiable(ValueError):
    """A payload that lacks a value the hash covers."""


def _value(payload: Mapping[str, Any], path: str) -> Any:
    current: Any = payload
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            raise Unverifiable(f"no {path}")
        current = current[part]
    if isinstance(current, Mapping | list):
        raise Unverifiable(f"{path} is not a plain value")
    return current


def hash_values(kind: Kind, payload: Mapping[str, Any], keys: PushKeys) -> list[str]:
    """The values the hash joins, as text (`str(value)`), in order. Unverifiable when
    one is missing."""
    values = []
    for item in HASHED_FIELDS[kind]:
        if item is _PUBLIC:
            values.append(keys.public)
        elif item is _PRIVATE:
            values.append(keys.private.get_secret_value())
        else:
            values.append(str(_value(payload, str(item))))
    return values


def _digest(private: str, values: Sequence[str], encode: Callable[[str], str]) -> str:
    message = "|".join(encode(v) for v in values).encode()
    return hmac.new(private.encode(), message, hashlib.sha512).hexdigest()


def expected_hashes(kind: Kind, payload: Mapping[str, Any], keys: PushKeys) -> tuple[str, str]:
    """(percent-encoded reading, unencoded reading) of the hash this payload must carry."""
    values = hash_values(kind, payload, keys)
    private = keys.private.get_secret_value()
    return (
        _digest(private, values, lambda v: quote(v, safe="")),
        _digest(private, values, lambda v: v),
    )


Verdict = Literal["ok", "wrong_key", "bad_hash"]


def verify(kind: Kind, payload: Mapping[str, Any], keys: PushKeys) -> Verdict:
    """Whether `payload` (the parsed JSON object, as sent) comes from the institute:
    its `key` is the public key and its `hash` is one of the two readings' digests.
    Every comparison is constant-time; both readings are always computed."""
    key = payload.get("key")
    sent = payload.get("hash")
    key_ok = hmac.compare_digest(
        (key if isinstance(key, str) else "").encode(), keys.public.encode()
    )
    try:
        encoded, plain = expected_hashes(kind, payload, keys)
    except Unverifiable:
        return "wrong_key" if not key_ok else "bad_hash"
    given = (sent if isinstance(sent, str) else "").strip().lower().encode()
    # Both compared, whatever the first gives: the time taken says nothing.
    match_encoded = hmac.compare_digest(given, encoded.encode())
    match_plain = hmac.compare_digest(given, plain.encode())
    if not key_ok:
        return "wrong_key"
    return "ok" if match_encoded or match_plain else "bad_hash"


def sign(kind: Kind, payload: dict[str, Any], keys: PushKeys) -> dict[str, Any]:
    """`payload` with `key` and the percent-encoded reading's `hash`: what Testpress
    sends. For tests; the sandbox signs with its own code."""
    signed = {**payload, "key": keys.public}
    signed["hash"] = expected_hashes(kind, signed, keys)[0]
    return signed


# -- the payloads -----------------------------------------------------------------------


def attempt_id_of(payload: Mapping[str, Any]) -> int | None:
    """The payload's `attempt_id` as an integer, or None when it has none usable."""
    try:
        return _optional_id(payload.get("attempt_id"))
    except ValueError:
        return None


class PushedExam(TestpressModel):
    """The exam webhook's nested `exam`."""

    id: int | None = None
    title: str | None = None


class ExamWebhook(TestpressModel):
    """The exam webhook: sent when an exam attempt starts and when it completes."""

    attempt_id: int
    attempt_state: str | None = None
    user_id: int | None = None
    exam: PushedExam | None = None

    @property
    def started(self) -> bool:
        return (self.attempt_state or "").strip().lower() == "started"

    @property
    def completed(self) -> bool:
        return (self.attempt_state or "").strip().lower() == "completed"


class PushedContent(TestpressModel):
    """The chapter-content webhook's nested `chapter_content`."""

    id: int | None = None
    title: str | None = None
    content_type: str | None = None


class ContentWebhook(TestpressModel):
    """The chapter-content webhook: sent when a content attempt changes state
    (`Started`, `Pending Evaluation`, `Evaluation Completed`, `Completed`)."""

    attempt_id: int
    user_id: int | None = None
    state: str | None = None
    chapter_content: PushedContent | None = None


# Exam payload name -> the admin API's attempt field of the same meaning. Fields the
# payload lacks (`result`, `percentile`, `name`, `sections`, ...) are absent, not null:
# a rule that reads one makes the source fetch the attempt's detail.
EXAM_FIELDS = {
    "attempt_id": "id",
    "user_id": "user_id",
    "username": "username",
    "email": "email",
    "correct_answers_count": "correct_answers_count",
    "incorrect_answers_count": "incorrect_answers_count",
    "unanswered_answers_count": "unanswered_count",
    "score": "score",
    "percentage": "percentage",
    "speed": "speed",
    "subject_stats": "subject_stats",
    "difficulty_level_stats": "difficulty_level_stats",
    "attempt_start_time": "date",
    "institute_attempt_id": "institute_attempt_id",
}


def exam_record(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The exam payload as the admin API's attempt record (its field names, its raw
    values), holding only what the payload says; `exam_title` comes along from the
    nested exam. Validate it with the attempt models like any API record."""
    record: dict[str, Any] = {
        api: payload[name] for name, api in EXAM_FIELDS.items() if name in payload
    }
    exam = payload.get("exam")
    if isinstance(exam, Mapping):
        if "id" in exam:
            record["exam_id"] = exam["id"]
        if isinstance(exam.get("title"), str):
            record["exam_title"] = exam["title"]
    state = str(payload.get("attempt_state") or "").strip().lower()
    if state == "completed":
        record["state"] = "Completed"
    elif state == "started":
        record["state"] = "Running"
    return record


def content_page(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The chapter-content payload as one page of the content-attempts list: the
    attempt in `content_attempts` and its nested objects in the side-loaded lists the
    list response has (`chapter_contents`, `courses`, `user_exams`, `user_videos`,
    `user_video_conferences`), so the sources join it exactly as they join a page."""

    def nested(name: str) -> dict[str, Any] | None:
        value = payload.get(name)
        return dict(value) if isinstance(value, Mapping) and "id" in value else None

    content, course = nested("chapter_content"), nested("course")
    exam, video, conference = (
        nested("assessment"),
        nested("user_video"),
        nested("user_video_conference"),
    )
    attempt: dict[str, Any] = {
        "id": payload.get("attempt_id"),
        "user_id": payload.get("user_id"),
        "state": payload.get("state"),
        "created": payload.get("created"),
        "completed_on": payload.get("completed_on"),
        "chapter_content_id": content["id"] if content else None,
        "course_id": course["id"] if course else None,
        "content_type": content.get("content_type") if content else None,
        "assessment_id": exam["id"] if exam else None,
        "user_video_id": video["id"] if video else None,
        "user_video_conference_id": conference["id"] if conference else None,
    }
    if content is not None:
        attempt["chapter_id"] = content.get("chapter_id")
        if course is not None:
            content.setdefault("course_id", course["id"])
    if exam is not None:
        attempt["correct_answers_count"] = exam.get("number_of_correct_answers")
        attempt["incorrect_answers_count"] = exam.get("number_of_incorrect_answers")
    return {
        "content_attempts": [attempt],
        "chapter_contents": [content] if content else [],
        "courses": [course] if course else [],
        "user_exams": [exam] if exam else [],
        "user_videos": [video] if video else [],
        "user_video_conferences": [conference] if conference else [],
        "users": [],
    }
