"""How values read in an alert: one line, numbers without noise, durations in words.

Shared by the default rendering (`notifier.delivery.render`) and the rule templates
(`notifier.rules.templates`), so a value reads the same whether or not a rule has a template.
"""

from __future__ import annotations

import unicodedata
from typing import TypeGuard

VALUE_MAX = 200  # one Testpress value in a line


def one_line(value: object, limit: int = VALUE_MAX) -> str:
    """A value of any type as one line of at most `limit` characters: control characters and every
    kind of line break become spaces (so a title can never break a subject header or
    a console line), runs of whitespace collapse."""
    text = value if isinstance(value, str) else str(value)
    if not (text.isascii() and text.isprintable()):  # the common case needs no scan
        text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_text(value: object, digits: int = 2) -> str:
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


def duration_text(seconds: object) -> str:
    """Seconds as a person reads them: `45 s`, `5.2 min`, `2 h 48 min`."""
    if not is_number(seconds):
        return one_line(seconds)
    if seconds < 60:
        return f"{number_text(round(seconds))} s"
    if seconds < 7200:
        return f"{number_text(round(seconds / 60, 1))} min"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {round(rest / 60)} min"
