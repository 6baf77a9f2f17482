"""List rows held between the read of a window and their enrichment, in bounded memory.

A backlog's new attempts are read (every page of the window) before any is enriched:
the counted window must be read whole to know what is new. Held as dicts, 20,000 rows
take about 30 MB, and 60,000 three times that. Here a row is one tuple of its values
under a field-name tuple shared by every row of the same shape, the text that repeats
from row to row (a student's name, email and links, "Completed", "Pass") kept once;
past `SPILL_AFTER` rows they all go to a private temporary SQLite file (deleted when
closed), so memory stays about the same however large the backlog. They are given
back oldest first (`drain`), so a backlog's parts are evaluated in time order, as
history rules ("the previous attempt") need.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from collections.abc import Iterator

from notifier.events import FieldValue
from notifier.rules.history import event_time
from notifier.sources.base import Record

log = logging.getLogger(__name__)

# The fields of a list row whose text repeats across rows (per student, exam or state).
REPEATED = frozenset({"email", "name", "phone", "exam_url", "user_url", "result", "state"})
SPILL_AFTER = 5_000  # rows held in memory (about 3 MB) before they go to disk
LATE = 1e18  # the order of a row without a time: last

Row = tuple[float, tuple[str, ...], tuple[FieldValue, ...]]


class Rows:
    """Records of one event kind by id; `drain` gives them back as dicts, oldest first."""

    def __init__(self, kind: str, spill_after: int | None = None) -> None:
        self.kind = kind
        self.spill_after = SPILL_AFTER if spill_after is None else spill_after
        self._rows: dict[str, Row] = {}
        self._shapes: dict[tuple[str, ...], int] = {}
        self._names: list[tuple[str, ...]] = []
        self._repeated: list[tuple[int, ...]] = []  # per shape: where REPEATED fields are
        self._strings: dict[str, str] = {}
        self._disk: sqlite3.Connection | None = None
        self._on_disk = 0

    def setdefault(self, key: str, data: Record) -> None:
        """Keep `data` under `key` unless a row is kept there already."""
        if key not in self:
            self.add(key, data)

    def add(self, key: str, data: Record) -> None:
        """Keep `data` under `key`, known not to be kept yet (`missing`)."""
        names = tuple(data)
        index = self._shapes.get(names)
        if index is None:
            index = self._shapes[names] = len(self._names)
            self._names.append(names)
            self._repeated.append(tuple(i for i, n in enumerate(names) if n in REPEATED))
        values = list(data.values())
        share = self._strings
        for i in self._repeated[index]:
            value = values[i]
            if type(value) is str:
                values[i] = share.setdefault(value, value)
        at = event_time(self.kind, data)
        self._rows[key] = (LATE if at is None else at, self._names[index], tuple(values))
        if len(self._rows) > self.spill_after:
            self._spill()

    def missing(self, keys: list[str]) -> list[str]:
        """Those of `keys` not kept (one query for all of them once rows are on disk)."""
        keys = [k for k in keys if k not in self._rows]
        if self._disk is None or not keys:
            return keys
        marks = ",".join("?" * len(keys))
        query = f"SELECT key FROM rows WHERE key IN ({marks})"
        kept = {key for (key,) in self._disk.execute(query, keys)}
        return [k for k in keys if k not in kept]

    def __contains__(self, key: object) -> bool:
        if key in self._rows:
            return True
        if self._disk is None:
            return False
        return self._disk.execute("SELECT 1 FROM rows WHERE key = ?", [key]).fetchone() is not None

    def drain(self) -> Iterator[tuple[str, Record]]:
        """Every row as (key, record), oldest first, each given once; then closed."""
        try:
            if self._disk is not None:
                self._spill()
                query = "SELECT key, shape, vals FROM rows ORDER BY at, key"
                for key, shape, vals in self._disk.execute(query):
                    yield key, dict(zip(self._names[shape], json.loads(vals), strict=True))
            # Rows not written to disk (a value JSON cannot hold), or all when never spilled.
            for key in sorted(self._rows, key=lambda k: (self._rows[k][0], k)):
                _, names, values = self._rows.pop(key)
                yield key, dict(zip(names, values, strict=True))
        finally:
            self.close()

    def close(self) -> None:
        self._rows.clear()
        if self._disk is not None:
            self._disk.close()
            self._disk = None

    def _spill(self) -> None:
        """Every row in memory to the temporary file (which an empty name gives). When
        no temporary file can be written (no writable temporary directory, a full
        disk), the rows stay in memory: a larger peak, nothing lost."""
        try:
            if self._disk is None:
                self._disk = sqlite3.connect("")
                self._disk.execute(
                    "CREATE TABLE rows (key TEXT PRIMARY KEY, at REAL, shape INTEGER, vals TEXT)"
                )
            written = []
            for key, (at, names, values) in self._rows.items():
                try:
                    text = json.dumps(values)
                except (TypeError, ValueError):
                    continue  # kept in memory: given back at the end of `drain`
                written.append((key, at, self._shapes[names], text))
            with self._disk:  # all or nothing: a row is either on disk or in memory
                self._disk.executemany("INSERT OR IGNORE INTO rows VALUES (?, ?, ?, ?)", written)
        except sqlite3.Error as exc:
            log.warning("backlog rows kept in memory (no temporary file: %s)", exc)
            self.spill_after = sys.maxsize
            if not self._on_disk and self._disk is not None:
                self._disk.close()
                self._disk = None
            return
        self._on_disk += len(written)
        for key, *_ in written:
            del self._rows[key]
