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

import re
from typing import overload

from notifier.events import JSONValue

REPLACEMENT = "\ufffd"

# C0 controls but tab, LF and CR; DEL; C1 controls; UTF-16 surrogates (only a lone one
# can be in a Python str decoded from JSON: a valid pair is combined by the decoder).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(text: str) -> str:
    """`text` with every unsafe character replaced by U+FFFD (the same object when it
    has none, which is nearly always)."""
    if text.isascii() and text.isprintable():  # the common case needs no regex
        return text
    return _UNSAFE.sub(REPLACEMENT, text) if _UNSAFE.search(text) else text


@overload
def clean_deep(value: JSONValue) -> JSONValue: ...
@overload
def clean_deep(value: object) -> object: ...


def clean_deep(value: object) -> object:
    """`value` (parsed JSON: dicts, lists, strings, numbers) with every string, keys
    included, made safe. Containers are copied only when something in them changed."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        changed = False
        out: dict[object, object] = {}
        for key, item in value.items():
            new_key = clean(key) if isinstance(key, str) else key
            new_item = clean_deep(item)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    if isinstance(value, list):
        items = [clean_deep(item) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
        return value
    return value
