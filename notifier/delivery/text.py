"""How values read in an alert: one line, numbers without noise, durations in words.

Shared by the default rendering (`notifier.delivery.render`) and the rule templates
(`notifier.delivery.templates`), so a value reads the same whether or not a rule has a template.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from notifier.events import Reason

VALUE_MAX = 200  # one Testpress value in a line
DURATION_FIELDS = frozenset({"duration", "time_taken", "remaining_time"})
_OPS = {
    "ne": "!=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "in": "in",
    "not_in": "not in",
    "contains": "contains",
    "matches": "matches",
}


def one_line(value: Any, limit: int = VALUE_MAX) -> str:
    """Any value as one line of at most `limit` characters: control characters and every
    kind of line break become spaces (so a title can never break a subject header or
    a console line), runs of whitespace collapse."""
    text = value if isinstance(value, str) else str(value)
    if not (text.isascii() and text.isprintable()):  # the common case needs no scan
        text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_text(value: Any, digits: int = 2) -> str:
    """`12`, not `12.0`; `12.35`, not `12.3456`; anything else as one line."""
    if not is_number(value):
        return one_line(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        if abs(value) >= 1e15:
            return str(value)
        return f"{round(value, digits):g}"
    return str(value)


def duration_text(seconds: Any) -> str:
    """Seconds as a person reads them: `45 s`, `5.2 min`, `2 h 48 min`."""
    if not is_number(seconds):
        return one_line(seconds)
    if seconds < 60:
        return f"{number_text(round(seconds))} s"
    if seconds < 7200:
        return f"{number_text(round(seconds / 60, 1))} min"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {round(rest / 60)} min"


def _value(field: str, value: Any) -> str:
    if value is None:
        return "missing"
    if field.split(".")[-1] in DURATION_FIELDS and isinstance(value, int | float):
        return duration_text(value)
    if isinstance(value, list | tuple | set | frozenset):
        return one_line(", ".join(_value(field, v) for v in value), VALUE_MAX)
    return number_text(value)


def reason_text(reason: Reason) -> str:
    """One firing condition with the value that met it: `result Fail`,
    `percentile 12.5 (rule: < 30)`, `email missing`."""
    if reason.op in ("repeat", "drop", "rise"):
        from notifier.delivery.history_text import history_reason_text

        told = history_reason_text(reason)
        if told is not None:
            return told
    field = one_line(reason.field, 80)
    actual = _value(reason.field, reason.actual)
    if reason.op == "eq":
        return f"{field} {actual}"
    if reason.op == "exists":
        return f"{field} {'present' if reason.expected else 'missing'}"
    if reason.op == "not" and isinstance(reason.actual, dict):
        values = ", ".join(
            f"{one_line(str(k), 80)} {_value(str(k), v)}" for k, v in reason.actual.items()
        )
        return f"{values} (rule: not {_plain_when(reason.expected)})"
    op = _OPS.get(reason.op, one_line(reason.op, 40))
    return f"{field} {actual} (rule: {op} {_value(reason.field, reason.expected)})"


def _plain_when(when: Any) -> str:
    """A `when` as written, readably: `result Fail, percentile lt 30`."""
    if isinstance(when, dict):
        parts = []
        for key, value in when.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{op} {_plain_when(v)}" for op, v in value.items())
                parts.append(f"{key} {inner}")
            elif isinstance(value, list):
                parts.append(f"{key} [{'; '.join(_plain_when(v) for v in value)}]")
            else:
                parts.append(f"{key} {_plain_when(value)}")
        return one_line(", ".join(parts), 200)
    if isinstance(when, list):
        return ", ".join(_plain_when(v) for v in when)
    return one_line(str(when), 80)
