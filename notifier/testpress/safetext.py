"""Text every store, channel and log can hold (contract section 7, "No poison").

Testpress may send, as valid JSON escapes, characters that break something downstream:
PostgreSQL refuses NUL (`\\u0000`) in `text` and `jsonb`, a lone surrogate (`\\ud800`)
cannot be encoded as UTF-8 (so neither stored, mailed nor logged), and control
characters corrupt log lines and headers. `clean` replaces each with U+FFFD, the
visible replacement character, so the alert still goes out and shows where the odd
character was. Tab, line feed and carriage return are kept: question text, addresses
and free-text answers legitimately hold them, every store and encoder accepts them,
and one-line renderings (`notifier.text.one_line`) already fold them.

Applied once at the edge: the client's parsed responses and the Testpress models
(which the push path validates too), so nothing past the edge needs to care.
"""

from __future__ import annotations

import json
import re
from typing import overload

from notifier.events import JSONValue

REPLACEMENT = "\ufffd"

# C0 controls but tab, LF and CR; DEL; C1 controls; UTF-16 surrogates (only a lone one
# can be in a Python str decoded from JSON: a valid pair is combined by the decoder).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The JSON escapes that can spell an unsafe character (`\uXXXX` any of them).
_UNSAFE_ESCAPES = ("\\b", "\\f", "\\u")


def clean(text: str) -> str:
    """`text` with every unsafe character replaced by U+FFFD (the same object when it
    has none, which is nearly always)."""
    if text.isascii() and text.isprintable():  # the common case needs no regex
        return text
    return _UNSAFE.sub(REPLACEMENT, text) if _UNSAFE.search(text) else text


def no_constant(name: str) -> None:
    """`parse_constant` for `json.loads`: NaN and Infinity are not JSON, but Python's
    decoder reads them as floats, which `json.dumps` then writes back as `Infinity`:
    a webhook body no receiver can parse, and SQL JSON functions refuse. Read as null."""
    return None


def loads(text: str) -> JSONValue:
    """`text` parsed as JSON with every string made safe. One scan of the text decides:
    the walk over the parsed value (a third of a detail's parsing) is made only when
    the text holds an unsafe character or an escape that could spell one."""
    value: JSONValue = json.loads(text, parse_constant=no_constant)
    if clean(text) is text and (
        "\\" not in text or not any(map(text.__contains__, _UNSAFE_ESCAPES))
    ):
        return value
    return clean_deep(value)


@overload
def clean_deep(value: JSONValue) -> JSONValue: ...
@overload
def clean_deep(value: object) -> object: ...


def clean_deep(value: object) -> object:
    """`value` (parsed JSON: dicts, lists, strings, numbers) with every string, keys
    included, made safe. Containers are copied only when something in them changed:
    a value found safe throughout is returned after one walk that allocates nothing."""
    return value if _safe(value) else _cleaned(value)


def _safe(value: object) -> bool:
    if isinstance(value, str):
        return (value.isascii() and value.isprintable()) or _UNSAFE.search(value) is None
    if isinstance(value, dict):
        return all(map(_safe, value)) and all(map(_safe, value.values()))
    if isinstance(value, list):
        return all(map(_safe, value))
    return True


def _cleaned(value: object) -> object:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {
            (clean(key) if isinstance(key, str) else key): clean_deep(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [clean_deep(item) for item in value]
    return value
