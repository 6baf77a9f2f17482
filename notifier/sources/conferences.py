"""Live-class attendance: one event per participant per live class, once it is final.

Final means, as the notifier observed it: the conference's attendance list has not
changed for NOTIFIER_CONFERENCE_SETTLE_MINUTES, and every row of that participant has a
leave time. A participant's rows (one per join) are merged by lower-cased email, or by
name when a row has no email. A conference is dropped from polling once everyone in it
has been emitted and it has been quiet for a day.

Conferences are found through chapter-content attempts of content type 7 (a counted
list, `notifier.sources.counted`: page 1 a cycle unless its count grew) and from
`sources: {conferences: [...]}` in the rules file.

An attendance list read while it grows (a row joins at the top and pushes the others
to the next page) would show a row twice or miss one: rows are de-duplicated by person
and join time, and a read is trusted only when the list's `count` did not change from
its first page to its last (it is read again, up to `READS` times). A read that never
held still this cycle makes nobody final this cycle.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeAlias, TypedDict

from notifier.events import Event, FieldValue, JSONValue, best_label
from notifier.rules.schema import Rule
from notifier.sources.base import Filters, PollContext, PollResult, Record
from notifier.sources.content import PATH as CONTENT_PATH
from notifier.sources.content import read_page
from notifier.sources.counted import CountedList, ListCursor
from notifier.testpress.client import TestpressClient, TestpressError
from notifier.testpress.models import ConferenceRow, parse_records

log = logging.getLogger(__name__)

PATH = "/api/v3/admin/attempts/{}/video-conference/"
KIND = "conference.attendance"
RETIRE_AFTER = timedelta(days=1)
# A conference found by discovery: its id and title.
_Found: TypeAlias = tuple[int, str | None]
READS = 3  # attempts at a read of an attendance list that holds still
_WARNED: set[tuple[int, str]] = set()  # warn once per process, not every cycle


class Person(TypedDict):
    """One person's attendance of a conference, merged from their rows."""

    conference_id: int
    name: str | None
    email: str | None
    join_time: str | None  # ISO time
    leave_time: str | None  # ISO time
    duration: float  # seconds
    sessions: int
    left: bool  # every row has a leave time


class Tracked(TypedDict, total=False):
    """A conference followed across cycles, as the source state keeps it."""

    title: str | None
    done: bool
    fingerprint: str  # of its attendance list, to see when it last changed
    changed_at: str  # ISO time


def _text(row: Record, key: str) -> str:
    value = row.get(key)
    return value if isinstance(value, str) else ""


def merge_participants(rows: list[Record], conference_id: int) -> dict[str, Person]:
    """Merge attendance rows per person: total duration, first join, last leave, number
    of sessions, and whether every row has a leave time."""
    people: dict[str, Person] = {}
    for row in rows:
        email = _text(row, "email").strip().lower()
        name = _text(row, "name").strip()
        if not email and not name:
            log.debug("conference %s: a row with neither email nor name was skipped", conference_id)
            continue
        if not email and (conference_id, name) not in _WARNED:
            _WARNED.add((conference_id, name))
            log.debug("conference %s: %r has no email; keyed by name", conference_id, name)
        who = email or f"name:{name.lower()}"
        person = people.setdefault(
            who,
            {
                "conference_id": conference_id,
                "name": name or None,
                "email": email or None,
                "join_time": None,
                "leave_time": None,
                "duration": 0.0,
                "sessions": 0,
                "left": True,
            },
        )
        person["sessions"] += 1
        join, leave = row.get("join_time"), row.get("leave_time")
        if join and (person["join_time"] is None or _t(join) < _t(person["join_time"])):
            person["join_time"] = str(join)  # _t read it: an ISO time
        if leave is None:
            person["left"] = False
        elif person["leave_time"] is None or _t(leave) > _t(person["leave_time"]):
            person["leave_time"] = str(leave)
        person["duration"] += _duration(row)
    return people


def _distinct(rows: list[Record]) -> list[Record]:
    """One row per (person, join time): a row read twice, once still open and once
    closed, counts once, closed."""
    out: dict[tuple[str, FieldValue], Record] = {}
    for n, row in enumerate(rows):
        who = _text(row, "email").strip().lower() or f"name:{_text(row, 'name').strip()}"
        key = (who, row.get("join_time") or f"#{n}")  # no join time: never merged
        if key not in out or (out[key].get("leave_time") is None and row.get("leave_time")):
            out[key] = row
    return list(out.values())


def _conference_rows(results: JSONValue) -> list[tuple[str, _Found | None]]:
    """(content attempt id, (conference id, title) or None) for live-class attempts."""
    joined, side = read_page(results)
    out: list[tuple[str, _Found | None]] = []
    for data in joined:
        row = side["confs"].get(str(data.get("user_video_conference_id"))) or {}
        conf = row.get("video_conference") or {}
        found: _Found | None = None
        if isinstance(conf, dict) and isinstance(conf_id := conf.get("id"), int):
            title = conf.get("title")
            found = (conf_id, title if isinstance(title, str) else None)
        out.append((str(data["id"]), found))
    return out


def _t(value: FieldValue) -> datetime:
    if not isinstance(value, str):
        raise TypeError("not an ISO time")  # as fromisoformat would
    return datetime.fromisoformat(value)


def _duration(row: Record) -> float:
    duration = row.get("duration")
    if isinstance(duration, int | float):
        return float(duration)
    try:
        return max(0.0, (_t(row["leave_time"]) - _t(row["join_time"])).total_seconds())
    except (KeyError, TypeError, ValueError):
        return 0.0


def _attendance(person: Person) -> Record:
    """The event's fields: the person's attendance, without the merge's `left`."""
    return {
        "conference_id": person["conference_id"],
        "name": person["name"],
        "email": person["email"],
        "join_time": person["join_time"],
        "leave_time": person["leave_time"],
        "duration": person["duration"],
        "sessions": person["sessions"],
    }


class ConferencesSource:
    name = "conferences"
    kinds: tuple[str, ...] = (KIND,)

    def query_filters(self, rules: Sequence[Rule]) -> Filters:
        return {}

    def poll(self, ctx: PollContext) -> PollResult:
        result = PollResult()
        now = ctx.now
        tracked: dict[str, Tracked] = ctx.store.sources.get_state(self.name, "conferences") or {}
        for found_id, title in self._discover(ctx, result).items():
            entry = tracked.setdefault(str(found_id), Tracked(title=None, done=False))
            entry["title"] = entry.get("title") or title
        pinned = {str(c) for c in ctx.extra_conferences}  # listed in the rules: kept for good
        for listed in pinned:
            tracked.setdefault(listed, Tracked(title=None, done=False))

        settle = timedelta(minutes=ctx.conference_settle_minutes)
        for conf_id, entry in sorted(tracked.items()):
            if entry.get("done"):
                continue
            try:
                rows, still = self._rows(ctx.client, conf_id)
            except TestpressError as exc:
                result.errors.append(f"conference {conf_id}: {exc}")
                continue
            fingerprint = hashlib.sha256(
                json.dumps(rows, sort_keys=True, default=str).encode()
            ).hexdigest()
            if fingerprint != entry.get("fingerprint"):
                entry["fingerprint"] = fingerprint
                entry["changed_at"] = now.isoformat()
            quiet_for = now - datetime.fromisoformat(entry["changed_at"])
            people = merge_participants(rows, int(conf_id))
            settled = still and quiet_for >= settle
            final = {
                f"{conf_id}:{who}": _attendance(person)
                for who, person in people.items()
                if settled and person["left"]
            }
            new_keys = ctx.store.seen.unseen(self.name, final)
            everyone_final = bool(people) and len(final) == len(people)
            for key in sorted(new_keys):
                person = final[key]
                data: Record = {
                    **person,
                    "conference_title": entry.get("title"),
                    "student": best_label(person["name"], person["email"]),
                }
                if not ctx.baseline:
                    result.events.append(Event(KIND, key, data))
                result.seen.append(key)
                result.keep(ctx, KIND, key, data)
            if everyone_final and quiet_for >= RETIRE_AFTER:
                entry["done"] = True
        # Forget finished classes once discovery can no longer find them again.
        forget_before = now - timedelta(hours=ctx.lookback_hours, days=4)
        result.state["conferences"] = {
            conf_id: entry
            for conf_id, entry in tracked.items()
            if conf_id in pinned
            or not (
                entry.get("done") and datetime.fromisoformat(entry["changed_at"]) < forget_before
            )
        }
        return result

    def _rows(self, client: TestpressClient, conf_id: str) -> tuple[list[Record], bool]:
        """Every row, de-duplicated, and whether the list held still while it was read."""
        where = PATH.format(conf_id)
        rows: list[Record] = []
        for _ in range(READS):
            rows, counts = [], set()
            for page in client.pages(where):
                counts.add(page.count)
                rows += [
                    r.to_data()
                    for r in parse_records(ConferenceRow, page.results or [], where=where)
                ]
            rows = _distinct(rows)
            if len(counts) <= 1:
                return rows, True
        log.debug("conference %s: the attendance list changed while it was read", conf_id)
        return rows, False

    def _discover(self, ctx: PollContext, result: PollResult) -> dict[int, str | None]:
        """Conference ids (and titles) from live-class content attempts in the window
        that were not read before; their member keys go into `result.seen`."""
        since = (ctx.now - timedelta(hours=ctx.lookback_hours, days=1)).date()
        cur = ctx.store.sources.get_state(self.name, "discover") or {}
        reader = CountedList(
            ctx.client, ctx.store.seen, self.name, CONTENT_PATH, _conference_rows,
            now=ctx.now, reconcile=timedelta(minutes=ctx.reconcile_minutes),
        )  # fmt: skip
        got = reader.read(
            {"content_type": 7, "completed_after": since.isoformat()},
            cur.get("list") or ListCursor(),
            tag="d",
            rebuild=cur.get("window") != since.isoformat(),
        )
        result.state["discover"] = {"window": since.isoformat(), "list": got.cursor}
        result.seen += got.members
        found: dict[int, str | None] = {}
        for conf in got.found.values():
            if conf is not None:
                found[conf[0]] = conf[1]
        return found
