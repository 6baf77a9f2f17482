"""Finding every completed exam attempt, cheaply: the counted window.

Testpress's attempts list has no completion-time filter or ordering, so "what completed
since the last poll" cannot be asked. What can be asked in one request is how many
completed attempts started in a date window: the `count` of `state=1&date_0=W`, whose
set only grows (an attempt never leaves Completed). The store keeps, as seen keys, the
ids read completed in that window ("members", `m<gen>:<exam>:<id>`). Every member was
read completed before the count was asked, so members <= count, and when they are
equal nothing is missing: a proof, not a guess. No Testpress time is ever compared
with this machine's clock; only the window's first day comes from it, a day early.

A cycle, in this order (each read is made after the ones it relies on):

1. **Older runners**: running attempts that started before the window
   (`state=0&date_1=W-1`, usually one empty page). One that left that list is read
   alone (its detail); still Running (it was skipped as rows moved between pages, or
   paused) keeps it under watch until it is Completed or gone (404).
2. **Window moved** (once a day): the days that left the window are read in full, so
   nothing completed there is lost, and members start again under a new `gen`.
3. **Check**: page 1 of the window, newest start first (one request): its `count`
   against the members.
4. **Search**, only when the count is higher: the exams where completions were found
   in the last hour ("active", e.g. the mock exam that is ending) are probed by their
   own count and read in full where it is higher than their members (a full read of a
   list finds every row that was in it when the read began); if they found fewer than
   the deficit, or a deficit has lasted `STALE_DEFICIT`, the whole window is read.
5. **Reconciliation**: the whole window is read every `reconcile` interval
   (NOTIFIER_RECONCILE_MINUTES) and whenever the members exceed the count (a deleted
   attempt), rebuilding the members: the last net under every shortcut.

Rows moving between pages while a list is read (a live exam ending): in a completed
list a completion only inserts rows, so a row already there can be read twice but
never skipped, and one that arrives while the list is read is counted by the next
check. A full read therefore finds every row that was there when it began.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypedDict

from notifier.events import JSONValue
from notifier.sources.base import Filters, PollContext
from notifier.sources.rows import Rows
from notifier.testpress.client import Page, Query, TestpressClient, TestpressError
from notifier.testpress.models import Attempt, AttemptDetail, parse_records
from notifier.testpress.plain import parse_data

log = logging.getLogger(__name__)

LIST = "/api/v2.5/admin/attempts/"
DETAIL = "/api/v2.5/admin/attempts/{}/"
# A deficit that has lasted this long (this machine's clock on both sides) is searched
# by reading the whole window, whatever the exams read explained: it bounds how long a
# completion can hide behind others arriving at the same time (a deficit that a search
# found exactly, or that a check no longer shows, starts the clock again).
STALE_DEFICIT = timedelta(minutes=5)
# Exams where completions were found in the last ACTIVE_FOR are probed (their own
# count) before the whole window is read; the MAX_PROBES most recent ones.
ACTIVE_FOR = timedelta(hours=1)
MAX_PROBES = 10


class ScanCursor(TypedDict, total=False):
    """The attempts source's cursor, as the source state keeps it."""

    window: str  # the first start date watched (ISO)
    gen: int
    watch: dict[str, int | None]  # running attempt id -> its exam id
    active: dict[str, str]  # exam id -> when completions were last found there (ISO)
    accepted: int
    deficit_since: str | None  # ISO time
    reconciled_at: str | None  # ISO time
    running: list[str]  # a cursor from before the counted window: running attempt ids


@dataclass
class Scan:
    """What one cycle read: completed attempts not seen yet (id -> fields, compact),
    the ids read that were seen already, the member keys read in the window (key -> id;
    only those of ids that end up seen may be recorded), the ids whose fields came from
    the detail endpoint, the cursor to save, errors."""

    found: Rows = field(default_factory=lambda: Rows("attempt.completed"))
    already: set[str] = field(default_factory=set)
    members: dict[str, str] = field(default_factory=dict)
    detailed: set[str] = field(default_factory=set)
    cursor: ScanCursor = field(default_factory=lambda: ScanCursor())
    errors: list[str] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)


def window_start(now: datetime, lookback_hours: float) -> date:
    """The first start date watched: the lookback window, a day early (the filter takes
    dates in the institute's time zone, and this machine's clock may be off)."""
    return (now - timedelta(hours=lookback_hours, days=1)).date()


class ExamScan:
    """One cycle of the steps in the module docstring, for `AttemptsSource`."""

    def __init__(
        self, ctx: PollContext, source: str, filters: Filters, reconcile: timedelta
    ) -> None:
        self.ctx = ctx
        self.client: TestpressClient = ctx.client
        self.source = source
        self.filters = filters
        self.reconcile = reconcile
        self.scan = Scan()
        self.prefix = ""
        self._stored: dict[str, int] = {}  # member-count cache per prefix, this cycle
        self._new_by_exam: Counter[str] = Counter()

    # -- the cycle ------------------------------------------------------------------------

    def run(self) -> Scan:
        ctx, scan = self.ctx, self.scan
        cur: ScanCursor = ctx.store.sources.get_state(self.source, "cursor") or ScanCursor()
        first = "gen" not in cur
        window = window_start(ctx.now, ctx.lookback_hours)
        if first and ctx.since is not None:
            window = min(window, ctx.since)
        previous: str | None = cur.get("window")
        watch = {str(k): v for k, v in (cur.get("watch") or {}).items()}
        watch.update({str(i): None for i in cur.get("running", [])})  # a v1 cursor

        watch = self._older_runners(window, watch)
        moved = previous is not None and previous != window.isoformat()
        if previous is not None and previous < window.isoformat():
            day_before = (window - timedelta(days=1)).isoformat()
            self._read_all({"state": 1, "date_0": previous, "date_1": day_before}, member=False)
        gen = int(cur.get("gen", 0))
        rebuild = first or moved or ctx.baseline
        if rebuild:
            gen += 1
        self.prefix = f"m{gen}:"

        params: Filters = {
            "state": 1,
            "ordering": "-date",
            "date_0": window.isoformat(),
            **self.filters,
        }
        now_s = ctx.now.isoformat()
        reconciled = cur.get("reconciled_at")
        accepted = 0 if rebuild else int(cur.get("accepted", 0))
        since = cur.get("deficit_since")
        # A full read is due anyway: its first page is the check, no request of its own.
        full = rebuild or reconciled is None or _age(ctx.now, reconciled) >= self.reconcile
        deficit = 0
        if not full:
            deficit = self._first_page(params) - self._known() - accepted
            since = (since or now_s) if deficit > 0 else None
        if deficit < 0:
            log.info("attempts: %d more members than completed attempts; rebuilding", -deficit)
            gen += 1
            self.prefix = f"m{gen}:"
            self._new_by_exam.clear()
            scan.members.clear()
            full = True
        active = _recent(cur.get("active") or {}, ctx.now)
        if deficit > 0:
            stale = since is not None and _age(ctx.now, since) >= STALE_DEFICIT
            if stale or not active:
                full = True
            else:
                before = len(scan.members)
                for exam in sorted(active, key=active.__getitem__, reverse=True)[:MAX_PROBES]:
                    if len(scan.members) - before >= deficit:
                        break  # the busiest exams explained it (the stale clock runs on)
                    self._exam(params, exam)
                found = len(scan.members) - before
                # Fewer than the deficit: some are outside these exams, read everything.
                # Exactly the deficit, with nothing arriving meanwhile: all found.
                full = found < deficit
                since = None if found == deficit else since
        if full:
            count = self._read_all(params, member=True)
            accepted = max(0, count - self._known())
            reconciled = now_s
            since = None  # every row there when the read began was read
        if not rebuild:  # a rebuild finds all history new: it says nothing of activity
            for exam in self._new_by_exam:
                active[exam] = now_s
        scan.cursor = {
            "window": window.isoformat(),
            "gen": gen,
            "watch": watch,
            "active": active,
            "accepted": accepted,
            "deficit_since": since,
            "reconciled_at": reconciled,
        }
        return scan

    # -- reads ----------------------------------------------------------------------------

    def _older_runners(self, window: date, watch: dict[str, int | None]) -> dict[str, int | None]:
        """Step 1: running attempts started before the window, and the detail of each
        watched one that left that list."""
        params: Filters = {
            "state": 0,
            "date_1": (window - timedelta(days=1)).isoformat(),
            **self.filters,
        }
        running: dict[str, int | None] = {}
        for page in self._pages(params):
            for a in parse_records(Attempt, page.results or [], where=LIST, cleaned=True):
                running[str(a.id)] = a.exam_id
        kept = dict(running)
        for attempt_id in sorted(set(watch) - set(running)):
            try:
                raw = self.client.get(DETAIL.format(attempt_id))
            except TestpressError as exc:
                if exc.status == 404:
                    continue  # deleted: nothing to alert on
                kept[attempt_id] = watch[attempt_id]  # try again next cycle
                self.scan.errors.append(f"attempt {attempt_id}: {exc}")
                continue
            self.scan.requests["detail"] += 1
            parsed = parse_records(
                AttemptDetail, [raw], where=f"attempt {attempt_id}", cleaned=True
            )
            if not parsed:
                kept[attempt_id] = watch[attempt_id]
            elif parsed[0].state == "Completed":
                self.scan.found.setdefault(attempt_id, parsed[0].to_data())
                self.scan.detailed.add(attempt_id)
            elif not _inside(parsed[0].date, window):
                kept[attempt_id] = parsed[0].exam_id  # still running: keep watching
            # else: running inside the window, whose count will show its completion
        return kept

    def _first_page(self, params: Query) -> int:
        for page in self._pages(params):
            self._take(page.results, member=True)
            return page.count or 0
        return 0

    def _exam(self, params: Query, exam: str) -> None:
        """Every page of one exam's completed attempts in the window, unless its count
        shows nothing missing there."""
        pages = self._pages({**params, "exams": exam})
        for n, page in enumerate(pages):
            self._take(page.results, member=True)
            if n == 0 and (page.count or 0) <= self._known(f"{exam}:"):
                pages.close()
                return

    def _read_all(self, params: Query, *, member: bool) -> int:
        """Every page; returns the count the first page gave."""
        count: int | None = None
        for page in self._pages(params):
            count = page.count if count is None else count
            self._take(page.results, member=member)
        return count or 0

    def _pages(self, params: Query) -> Generator[Page, None, None]:
        for page in self.client.pages(LIST, params):
            self.scan.requests["list"] += 1
            yield page

    def _take(self, results: JSONValue, *, member: bool) -> None:
        rows = parse_data(Attempt, results or [], where=LIST, cleaned=True)
        scan = self.scan
        ids = {str(a["id"]): a for a in rows}
        keys: dict[str, tuple[str, str]] = {}
        if member:
            for aid, a in ids.items():
                keys[f"{self.prefix}{a['exam_id']}:{aid}"] = (aid, str(a["exam_id"]))
        # Only rows not seen yet are kept (`Rows`: compact, on disk past a few thousand)
        # until they are enriched: a reconciliation of a window of 20,000 seen attempts
        # holds their ids alone.
        unknown = scan.found.missing([aid for aid in ids if aid not in scan.already])
        new_keys = [k for k in keys if k not in scan.members]
        unseen = self.ctx.store.seen.unseen(self.source, [*unknown, *new_keys])
        for aid in unknown:
            if aid in unseen:
                scan.found.add(aid, ids[aid])
            else:
                scan.already.add(aid)
        for key in new_keys:
            if key in unseen:
                aid, exam = keys[key]
                scan.members[key] = aid
                self._new_by_exam[exam] += 1

    def _known(self, exam_prefix: str = "") -> int:
        """Members under this cycle's prefix (of one exam with `"<exam>:"`), the ones
        read this cycle included."""
        prefix = self.prefix + exam_prefix
        if prefix not in self._stored:
            self._stored[prefix] = self.ctx.store.seen.count_seen(self.source, prefix)
        new = (
            len(self.scan.members)
            if not exam_prefix
            else self._new_by_exam[exam_prefix.rstrip(":")]
        )
        return self._stored[prefix] + new


def _inside(started: str | None, window: date) -> bool:
    """Whether a start time is in the window by the server's reckoning whatever its time
    zone: a UTC date at least a day after the window's first day."""
    try:
        when = datetime.fromisoformat(str(started))
    except ValueError:
        return False
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.date() > window


def _recent(active: dict[str, str], now: datetime) -> dict[str, str]:
    return {str(e): t for e, t in active.items() if _age(now, t) < ACTIVE_FOR}


def _age(now: datetime, iso: str) -> timedelta:
    try:
        return now - datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return timedelta.max
