"""List rows held compactly between the read of a window and their enrichment.

A backlog's new attempts are read (every page of the window) before any is enriched:
the counted window must be read whole to know what is new. Held as dicts, 20,000 rows
take about 30 MB; here each row is one tuple of its values under a field-name tuple
shared by every row of the same shape, with the text that repeats from row to row (a
student's name, email and links, the exam's link, "Completed", "Pass") kept once.
"""

from __future__ import annotations

from collections.abc import Iterator

from notifier.events import FieldValue
from notifier.sources.base import Record

# The fields of a list row whose text repeats across rows (per student, exam or state).
REPEATED = frozenset({"email", "name", "phone", "exam_url", "user_url", "result", "state"})


class Rows:
    """Records by id, compact; `pop` gives a record back as the dict it was."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[tuple[str, ...], tuple[FieldValue, ...]]] = {}
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._strings: dict[str, str] = {}

    def setdefault(self, key: str, data: Record) -> None:
        """Keep `data` under `key` unless a row is kept there already."""
        if key in self._rows:
            return
        names = tuple(data)
        shape = self._shapes.setdefault(names, names)
        share = self._strings
        values = tuple(
            share.setdefault(value, value) if type(value) is str and name in REPEATED else value
            for name, value in data.items()
        )
        self._rows[key] = (shape, values)

    def value(self, key: str, name: str) -> FieldValue:
        """One field of a row (None when the row has no such field)."""
        shape, values = self._rows[key]
        return values[shape.index(name)] if name in shape else None

    def pop(self, key: str) -> Record:
        shape, values = self._rows.pop(key)
        return dict(zip(shape, values, strict=True))

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._rows))

    def __len__(self) -> int:
        return len(self._rows)
