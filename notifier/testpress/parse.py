"""Value coercions for what the Testpress API really sends (contract section 5).

Real servers disagree with the documentation: numbers come as strings (`"90.00"`),
durations as Python/Django timedelta strings (`"2:47:53.076906"`, `"1 day, 2:03:04"`),
absent values as `"NA"` or `""`, and times end in `Z` or `+05:30`. Each function here
turns one such value into what rules compare against, or raises `ValueError` when the
value cannot mean what the field says (the record is then logged and skipped).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import cast

# Values that mean "no value" wherever they appear (compared case-insensitively).
NULL_STRINGS = frozenset({"", "na", "n/a"})

_DURATION = re.compile(
    r"""^\s*
    (?:(?P<days>-?\d+)\s*(?:days?,?)?\s+|(?P<sign>-))?  # "1 day, ", "-1 day, ", Django's "1 "
    (?:(?P<hours>\d+):)?(?P<minutes>\d+):(?P<seconds>\d+(?:\.\d+)?)\s*$""",
    re.VERBOSE,
)


def is_null(value: object) -> bool:
    """True for None and for the strings the API uses to mean "no value"."""
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    # Hot path (every field of every record): a null string is at most 3 characters
    # once stripped, so a longer one that does not start or end with a space is not.
    if len(value) > 3 and not value[0].isspace() and not value[-1].isspace():
        return False
    return value.strip().lower() in NULL_STRINGS


def any_null_string(values: Iterable[object]) -> bool:
    """Whether some value is a null string. `is_null`'s first test is made inline:
    most values are not short strings, and a call per field was a quarter of a
    detail's validation (this runs for every record)."""
    for value in values:
        if (
            isinstance(value, str)
            and (len(value) <= 3 or value[0].isspace() or value[-1].isspace())
            and is_null(value)
        ):
            return True
    return False


def null_strings_to_none(value: object) -> object:
    return None if is_null(value) else value


def to_float(value: object) -> float | None:
    """A number, possibly sent as a string: `"90.00"` -> 90.0, `0` -> 0.0."""
    kind = type(value)
    if kind is float:  # the common cases first: this runs for most fields of every record
        number = cast(float, value)  # `type(value) is float`, which mypy cannot narrow
        if math.isfinite(number):
            return number
        raise ValueError("not a finite number")
    if kind is int:  # as above; no `cast` here: a call costs half this path's time
        return float(value)  # type: ignore[arg-type]
    if is_null(value):
        return None
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"not a number: {value[:40]!r}") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def to_count(value: object) -> int | float | None:
    """A count or an id-like number: an int when integral (`"12"`, `12.0` -> 12), else the
    float (a server sending `2.5` for a count is odd, but the record is still useful)."""
    if type(value) is int:
        return value
    number = to_float(value)
    if number is None:
        return None
    return int(number) if number.is_integer() else number


def to_id(value: object) -> int:
    """A record id: an integer, possibly sent as a string. Never null."""
    if type(value) is int:
        return value
    number = to_count(value)
    if number is None or not isinstance(number, int):
        raise ValueError("expected an integer id")
    return number


def to_ref(value: object) -> int | None:
    """An id pointing elsewhere (`exam_id`): as `to_id`, or null."""
    if type(value) is int:
        return value
    return None if is_null(value) else to_id(value)


def to_seconds(value: object) -> float | None:
    """A duration in seconds, rounded to 2 decimals: a timedelta string
    (`"2:47:53.076906"` -> 10073.08, `"1 day, 2:03:04"` -> 93784.0, Django's
    `"1 02:03:04"`, `"05:30"`) or a plain number (`5`, `"0.00"`)."""
    kind = type(value)
    if kind is int or kind is float:
        number = to_float(value)
        return None if number is None else round(number, 2)
    if (
        isinstance(value, str)
        and len(value) > 3
        and not (value[0].isspace() or value[-1].isspace())
    ):
        pass  # not a null string (see `is_null`): the common case skips the call
    elif is_null(value):
        return None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            days = int(match["days"] or 0)
            seconds = (
                days * 86400
                + int(match["hours"] or 0) * 3600
                + int(match["minutes"]) * 60
                + float(match["seconds"])
            )
            if match["sign"]:
                seconds = -seconds
            return round(seconds, 2)
    number = to_float(value)
    return None if number is None else round(number, 2)


def to_time(value: object) -> str | None:
    """An ISO 8601 time with its offset: `"...Z"` -> `"...+00:00"`, `+05:30` kept.

    A time without an offset is taken as UTC (the API always sends one; a naive time
    would otherwise compare unpredictably with aware ones). A number is read as Unix
    seconds.
    """
    if type(value) is str and len(value) > 3 and not (value[0].isspace() or value[-1].isspace()):
        pass  # not a null string (see `is_null`): the common case skips the call
    elif is_null(value):
        return None
    if isinstance(value, bool):
        raise ValueError("expected a time, got a boolean")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC).isoformat()
        except (OverflowError, OSError, ValueError):  # out of range, NaN
            raise ValueError("a number that is not a possible time") from None
    if not isinstance(value, str):
        raise ValueError(f"expected a time, got {type(value).__name__}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def to_text(value: object) -> str | None:
    """A string; numbers become their text (a phone number sent as a number)."""
    if type(value) is str:
        if len(value) > 3 and not value[0].isspace() and not value[-1].isspace():
            return value  # not a null string (see `is_null`), without the call
        return None if is_null(value) else value
    if is_null(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a string, got a boolean")
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"style", "script"})
    _BREAKS = frozenset(
        {"br", "p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def question_text(html: str | None) -> str:
    """Plain text of a question's HTML: tags removed, entities decoded, `<style>` and
    `<script>` content dropped, whitespace collapsed to single spaces."""
    if not html:
        return ""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())
