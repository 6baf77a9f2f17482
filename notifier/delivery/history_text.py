"""The default wording of history rules and the inactivity check (contract section 11):
"Asha Verma failed 3 exams in 30 days: Algebra Mock 3 (12%), Algebra Mock 2 (20%), ...".

Pure: reads the alert's data (its `history`, newest first) and its reasons, whose
history reason (`repeat`, `drop`, `rise`) the evaluator adds (notifier.rules.history).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from notifier.events import EventData, FieldValue, Reason
from notifier.text import duration_text, number_text, one_line

HISTORY_OPS = ("repeat", "drop", "rise")
LISTED = 5  # events named in the sentence; the webhook's `history` has them all
_TITLES = {
    "attempt.completed": ("exam_title", "exam_id", "exam"),
    "content_attempt.completed": ("title", "chapter_content_id", "content"),
    "conference.attendance": ("conference_title", "conference_id", "live class"),
}
_KINDS = {
    "attempt.completed": "exam",
    "content_attempt.completed": "course content",
    "conference.attendance": "live class",
}
_PLURAL = {"live class": "live classes", "quiz": "quizzes"}


def history_reason(reasons: Sequence[Reason]) -> Reason | None:
    return next((r for r in reasons if r.op in HISTORY_OPS), None)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {_PLURAL.get(noun, noun + 's')}"


def _title(kind: str, data: EventData) -> str:
    title_key, id_key, noun = _TITLES.get(kind, ("title", "id", "event"))
    title = data.get(title_key) if title_key in data else data.get("title")
    if isinstance(title, str) and title.strip():
        return one_line(title, 80)
    if data.get(id_key) is not None:
        return f"{noun} {number_text(data[id_key])}"
    return noun


def _value(field: str, value: FieldValue) -> str:
    if value is None:
        return "missing"
    if field in ("percentage", "watched_percentage"):
        return f"{number_text(value)}%"
    if field in ("duration", "time_taken"):
        return duration_text(value)
    return number_text(value)


def _item(kind: str, data: EventData) -> str:
    """`Algebra Mock 3 (12%)`: the title, and the value a teacher looks at."""
    title = _title(kind, data)
    for field in ("percentage", "watched_percentage", "duration"):
        if data.get(field) is not None:
            return f"{title} ({_value(field, data[field])})"
    return title


def _noun(kind: str, data: EventData) -> str:
    if kind == "content_attempt.completed":
        content_type = data.get("content_type")
        if isinstance(content_type, str) and content_type:
            return {"video_conference": "live class", "live_stream": "live stream"}.get(
                content_type, content_type
            )
    return _KINDS.get(kind, "event")


def _window(expected: object) -> str:
    if not isinstance(expected, Mapping):
        return ""
    if expected.get("in_a_row"):
        return " in a row"
    within = expected.get("within")
    if isinstance(within, str) and within:
        units = {"d": "day", "h": "hour", "m": "minute", "s": "second", "w": "week"}
        number, unit = within[:-1], within[-1:]
        if unit in units and number.replace(".", "", 1).isdigit():
            return " in " + _plural_number(number, units[unit])
        return f" within {one_line(within, 20)}"
    return ""


def _plural_number(number: str, unit: str) -> str:
    return f"{number} {unit}" if number in ("1", "1.0") else f"{number} {unit}s"


def history_did(kind: str, data: EventData, reasons: Sequence[Reason]) -> str | None:
    """What the student did, for a history rule's alert; None for other alerts."""
    reason = history_reason(reasons)
    if reason is None:
        return None
    history = data.get("history")
    listed_before = history if isinstance(history, list | tuple) else ()
    earlier = [h for h in listed_before if isinstance(h, Mapping)]
    if reason.op == "repeat":
        count = reason.actual if isinstance(reason.actual, int) else 1 + len(earlier)
        failed = any(r.field == "result" and r.actual == "Fail" for r in reasons)
        verb = (
            "failed" if failed else "attended" if kind == "conference.attendance" else "completed"
        )
        items = [_item(kind, data), *(_item(kind, h) for h in earlier)]
        listed = ", ".join(items[:LISTED]) + (", ..." if len(items) > LISTED else "")
        noun = _plural(count, _noun(kind, data))
        return f"{verb} {noun}{_window(reason.expected)}: {listed}"
    moved = reason.actual if isinstance(reason.actual, Mapping) else {}
    field = one_line(reason.field, 60)
    word = "dropped" if reason.op == "drop" else "rose"
    unit = " points" if field in ("percentage", "watched_percentage", "percentile") else ""
    by = number_text(moved.get("by"))
    previous = earlier[0] if earlier else {}
    return (
        f"{word} {by}{unit} in {field}: {_value(field, moved.get('to'))} in "
        f"{_title(kind, data)}, {'down' if reason.op == 'drop' else 'up'} from "
        f"{_value(field, moved.get('from'))} in {_title(kind, previous)}"
    )


def history_reason_text(reason: Reason) -> str | None:
    """The history reason in the `because` list: `3 in 30 days (rule: 3 within 30d)`."""
    if reason.op == "repeat" and isinstance(reason.expected, Mapping):
        times = reason.expected.get("times")
        if reason.expected.get("in_a_row"):
            return f"{number_text(reason.actual)} in a row (rule: {number_text(times)} in a row)"
        within = one_line(reason.expected.get("within") or "", 20)
        return f"{number_text(reason.actual)} within {within} (rule: {number_text(times)})"
    if reason.op in ("drop", "rise") and isinstance(reason.actual, Mapping):
        by = number_text(reason.actual.get("by"))
        field = one_line(reason.field, 60)
        return f"{field} {reason.op} {by} (rule: {reason.op} {number_text(reason.expected)})"
    return None


def inactive_did(data: EventData) -> tuple[str, tuple[str, ...]]:
    """`has not been active for 8 days`, and what their last activity was."""
    days = data.get("days_inactive")
    did = "has not been active"
    if isinstance(days, int | float) and not isinstance(days, bool):
        did += f" for {_plural(int(days), 'day')}"
    details = []
    kind = data.get("last_activity_kind")
    what = {
        "attempt.completed": "exam",
        "content_attempt.completed": "content",
        "conference.attendance": "live class",
    }.get(str(kind), "activity")
    title = data.get("last_activity_title")
    last = data.get("last_activity")
    text = f'last {what} "{one_line(title, 80)}"' if isinstance(title, str) and title else ""
    if isinstance(last, str) and last:
        text = (text + " on " if text else "last active ") + last[:10]
    if text:
        details.append(text)
    return did, tuple(details)
