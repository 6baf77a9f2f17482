"""Which students an alert is about, as a mute names them: a student is their Testpress
user id, or their email (a live class's attendance has only the email)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from notifier.events import JSONObject, JSONValue, best_label


def _data(alert: Mapping[str, JSONValue]) -> JSONObject:
    data = alert.get("data")
    return data if isinstance(data, Mapping) else {}


def student_id(data: JSONObject) -> str | None:
    """The alert's student as a mute names them: the user id, else the email."""
    user_id = data.get("user_id")
    if user_id is not None and str(user_id).strip():
        return str(user_id).strip()
    email = data.get("email")
    if isinstance(email, str) and email.strip():
        return email.strip().lower()
    return None


def student_ids(alerts: Iterable[JSONObject]) -> tuple[str, ...]:
    """Each student the alerts are about, once, in order."""
    ids = (student_id(_data(a)) for a in alerts)
    return tuple(dict.fromkeys(i for i in ids if i is not None))


def student_names(alerts: Iterable[JSONObject]) -> tuple[str, ...]:
    """Each student's best human label, once, in order."""
    labels = (
        best_label(
            d.get("student"), d.get("name"), d.get("username"), d.get("email"),
            user_id=d.get("user_id"),
        )
        for d in map(_data, alerts)
    )  # fmt: skip
    return tuple(dict.fromkeys(x for x in labels if x is not None))


def is_student(wanted: str, data: JSONObject) -> bool:
    """Whether the alert's data is about the student a mute names (by user id, or by
    email in any case)."""
    user_id = data.get("user_id")
    if user_id is not None and str(user_id).strip() == wanted:
        return True
    email = data.get("email")
    return isinstance(email, str) and email.strip().lower() == wanted.lower()


__all__ = ["is_student", "student_id", "student_ids", "student_names"]
