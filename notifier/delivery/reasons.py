"""Why a rule fired, in words: each firing condition with the value that met it
(`percentile 12.5 (rule: < 30)`), the history conditions told by `history_text`."""

from __future__ import annotations

from notifier.delivery.history_text import history_reason_text
from notifier.events import Reason
from notifier.text import VALUE_MAX, duration_text, number_text, one_line

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


def _value(field: str, value: object) -> str:
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


def figure_text(reason: Reason) -> str:
    """One firing condition as a figure, shorter than `reason_text` for Slack's one-line
    summary: `score 32 < 40`, `result Fail`; history conditions as `reason_text` says
    them."""
    if reason.op in _COMPARE:
        field = one_line(reason.field, 80)
        actual = _value(reason.field, reason.actual)
        return f"{field} {actual} {_OPS[reason.op]} {_value(reason.field, reason.expected)}"
    return reason_text(reason)


_COMPARE = frozenset({"lt", "lte", "gt", "gte", "ne"})


def _plain_when(when: object) -> str:
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
