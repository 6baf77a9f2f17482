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
from datetime import datetime, timedelta
from typing import Any

from notifier.events import Event, best_label
from notifier.sources.base import PollContext, PollResult
from notifier.sources.content import PATH as CONTENT_PATH
from notifier.sources.content import read_page
from notifier.sources.counted import CountedList
from notifier.testpress.client import TestpressClient, TestpressError
from notifier.testpress.models import ConferenceRow, parse_records

log = logging.getLogger(__name__)

PATH = "/api/v3/admin/attempts/{}/video-conference/"
KIND = "conference.attendance"
RETIRE_AFTER = timedelta(days=1)
READS = 3  # attempts at a read of an attendance list that holds still
_WARNED: set[tuple[int, str]] = set()  # warn once per process, not every cycle


def merge_participants(rows: list[dict[str, Any]], conference_id: int) -> dict[str, dict[str, Any]]:
    """Merge attendance rows per person: total duration, first join, last leave, number
    of sessions, and whether every row has a leave time."""
    people: dict[str, dict[str, Any]] = {}
    for row in rows:
        email = (row.get("email") or "").strip().lower()
        name = (row.get("name") or "").strip()
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
            person["join_time"] = join
        if leave is None:
            person["left"] = False
        elif person["leave_time"] is None or _t(leave) > _t(person["leave_time"]):
            person["leave_time"] = leave
        person["duration"] += _duration(row)
    return people


def _distinct(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (person, join time): a row read twice, once still open and once
    closed, counts once, closed."""
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for n, row in enumerate(rows):
        who = (row.get("email") or "").strip().lower() or f"name:{(row.get('name') or '').strip()}"
        key = (who, row.get("join_time") or f"#{n}")  # no join time: never merged
        if key not in out or (out[key].get("leave_time") is None and row.get("leave_time")):
            out[key] = row
    return list(out.values())


def _conference_rows(results: Any) -> list[tuple[str, Any]]:
    """(content attempt id, (conference id, title) or None) for live-class attempts."""
    joined, side = read_page(results)
    out: list[tuple[str, Any]] = []
    for data in joined:
        row = side["confs"].get(str(data.get("user_video_conference_id"))) or {}
        conf = row.get("video_conference") or {}
        ok = isinstance(conf, dict) and isinstance(conf.get("id"), int)
        out.append((str(data["id"]), (conf["id"], conf.get("title")) if ok else None))
    return out


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _duration(row: dict[str, Any]) -> float:
    if isinstance(row.get("duration"), int | float):
        return float(row["duration"])
    try:
        return max(0.0, (_t(row["leave_time"]) - _t(row["join_time"])).total_seconds())
    except (KeyError, TypeError, ValueError):
        return 0.0


class ConferencesSource:
    name = "conferences"
    kinds: tuple[str, ...] = (KIND,)

    def query_filters(self, rules: Any) -> dict[str, Any]:
        return {}

    def poll(self, ctx: PollContext) -> PollResult:
        result = PollResult()
        now = ctx.now
        tracked: dict[str, dict[str, Any]] = (
            ctx.store.sources.get_state(self.name, "conferences") or {}
        )
        for found_id, title in self._discover(ctx, result).items():
            entry = tracked.setdefault(str(found_id), {"title": None, "done": False})
            entry["title"] = entry.get("title") or title
        pinned = {str(c) for c in ctx.extra_conferences}  # listed in the rules: kept for good
        for listed in pinned:
            tracked.setdefault(listed, {"title": None, "done": False})

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
                f"{conf_id}:{who}": {k: v for k, v in person.items() if k != "left"}
                for who, person in people.items()
                if settled and person["left"]
            }
            new_keys = ctx.store.seen.unseen(self.name, final)
            everyone_final = bool(people) and len(final) == len(people)
            for key in sorted(new_keys):
                person = final[key]
                data = {
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

    def _rows(self, client: TestpressClient, conf_id: str) -> tuple[list[dict[str, Any]], bool]:
        """Every row, de-duplicated, and whether the list held still while it was read."""
        where = PATH.format(conf_id)
        rows: list[dict[str, Any]] = []
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
            cur.get("list") or {},
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
