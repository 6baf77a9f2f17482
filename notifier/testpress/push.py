"""Testpress's own webhooks (contract section 10): the payloads, their `hash`, and what
each says in the admin API's own record shapes.

Pure: no I/O. The server checks a payload with `verify` before anything is recorded,
and records only `kept_payload` (the signed values and the state, bounded) under
`received_key` (so a replay is recorded once). A push is an authenticated hint about
one attempt and nothing more: the hash leaves out the exam attempt's state, its
`completed_on`, names, titles and a content attempt's `assessment`, so the sources
read the attempt from the admin API before anything alerts (notifier.sources.pushed).

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
from typing import Literal
from urllib.parse import quote

from pydantic import SecretStr

from notifier.events import JSONObject, JSONScalar, JSONValue
from notifier.testpress.parse import to_ref

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


def _value(payload: JSONObject, path: str) -> JSONScalar:
    current: JSONValue = payload
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            raise Unverifiable(f"no {path}")
        current = current[part]
    if isinstance(current, Mapping | list) or not isinstance(current, JSONScalar):
        raise Unverifiable(f"{path} is not a plain value")
    return current


def hash_values(kind: Kind, payload: JSONObject, keys: PushKeys) -> list[str]:
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


def expected_hashes(kind: Kind, payload: JSONObject, keys: PushKeys) -> tuple[str, str]:
    """(percent-encoded reading, unencoded reading) of the hash this payload must carry."""
    values = hash_values(kind, payload, keys)
    private = keys.private.get_secret_value()
    return (
        _digest(private, values, lambda v: quote(v, safe="")),
        _digest(private, values, lambda v: v),
    )


Verdict = Literal["ok", "wrong_key", "bad_hash"]


def verify(kind: Kind, payload: JSONObject, keys: PushKeys) -> Verdict:
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


def sign(kind: Kind, payload: JSONObject, keys: PushKeys) -> dict[str, JSONValue]:
    """`payload` with `key` and the percent-encoded reading's `hash`: what Testpress
    sends. For tests; the sandbox signs with its own code."""
    signed: dict[str, JSONValue] = {**payload, "key": keys.public}
    signed["hash"] = expected_hashes(kind, signed, keys)[0]
    return signed


# -- the payloads -----------------------------------------------------------------------


def attempt_id_of(payload: JSONObject) -> int | None:
    """The payload's `attempt_id` as an integer, or None when it has none usable."""
    try:
        return to_ref(payload.get("attempt_id"))
    except ValueError:
        return None


# -- what is kept of a verified payload ---------------------------------------------------

# A signed value longer than this is not one Testpress sends (ids, counts, "12.50",
# a state's name); kept as null rather than at any length.
_MAX_VALUE = 64
EXAM_STATES = frozenset({"started", "completed"})


def pushed_state(kind: Kind, payload: JSONObject) -> str:
    """The state a payload says, normalised: an exam's `attempt_state` (NOT signed: a
    hint only) as `started`, `completed` or `other`; a content attempt's `state`
    (signed) lower-cased, or `other` when it is not a short string."""
    name = "attempt_state" if kind == "exam" else "state"
    value = payload.get(name)
    state = value.strip().lower() if isinstance(value, str) and len(value) <= _MAX_VALUE else ""
    if kind == "exam":
        return state if state in EXAM_STATES else "other"
    return state or "other"


def _plain(value: JSONScalar) -> JSONScalar:
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return value
    if isinstance(value, str) and len(value) <= _MAX_VALUE:
        return value
    return None


def kept_payload(kind: Kind, payload: JSONObject) -> dict[str, JSONValue]:
    """What the inbox keeps of a verified payload: its `attempt_id`, the values the
    hash covers (under their payload names, nested ones nested) and the normalised
    state, each bounded; nothing unsigned beyond the state, so a padded payload is
    stored in a few hundred bytes and nothing unsigned can reach an alert."""
    kept: dict[str, JSONValue] = {"attempt_id": attempt_id_of(payload)}
    for item in HASHED_FIELDS[kind]:
        if not isinstance(item, str):
            continue
        try:
            value = _plain(_value(payload, item))
        except Unverifiable:
            value = None
        head, _, tail = item.partition(".")
        if tail:
            nested = kept.setdefault(head, {})
            if isinstance(nested, dict):  # always: only this loop writes `head`
                nested[tail] = value
        else:
            kept[head] = value
    kept["attempt_state" if kind == "exam" else "state"] = pushed_state(kind, payload)
    return kept


def received_key(kind: Kind, payload: JSONObject) -> str:
    """The key a verified body is received under, once: its attempt, its normalised
    state and its (normalised) hash. A replay has all three of a body already
    received. A started body made to say `completed` differs from the real completion
    in its hash whenever their signed figures differ, so the forgery does not hide the
    real webhook; when they do not, the poll (watching the attempt) still finds it."""
    sent = payload.get("hash")
    digest = sent.strip().lower()[:256] if isinstance(sent, str) else ""
    return f"{attempt_id_of(payload)}:{pushed_state(kind, payload)}:{digest}"
