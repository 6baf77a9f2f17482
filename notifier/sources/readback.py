"""History from day one (contract section 11): a new state store's read-back.

A new store knows nothing of the past, so `repeat`, `change` and `student.inactive`
would start from zero and a student already quiet for weeks would never be reported.
At the first start, then, the notifier also reads back NOTIFIER_HISTORY_DAYS days of
completed exam attempts and content attempts into history and activity, and alerts on
none of them: no rule is evaluated here, only `record(history=...)` is written.

- **The same reads.** The lists are the sources' own (`notifier.sources.exam_scan`'s
  LIST with its `state`/`date_0` filters, `notifier.sources.content`'s PATH with
  `completed_after`/`state`), through the same `TestpressClient` (its paging, retries
  and Retry-After pauses) and parsed by the same code (`Attempt` rows with the exam's
  title from the cached look-ups; `read_page`'s joined content attempts).
- **Never twice.** An item a live source has already marked seen (its baseline or a
  live event) was kept in history by that source, with the `repeat` rules that fired
  on it: the read-back skips it, so it neither counts twice nor loses a `fired` mark.
  An item kept twice by the read-back itself (a page read again after a restart, rows
  moving between pages) lands on the same history row (kind, student, time, key).
- **Resumable.** The cursor (scope `readback` in the store's source state) names the
  lists still to read and the `next` page of the current one; each page's history is
  written with the cursor that follows it, in one transaction, so a restart (a failing
  page, a killed process) resumes at the first page not recorded and reads none again.
- **Paced.** A cycle in the run loop reads for at most its budget (the poll interval)
  and then polls as usual, so live alerts are never held behind the read-back; `run
  --once` reads it all. The daily inactivity check waits until it is done (for at most
  a day), so the first check already knows who went quiet.
- Only a store that is new when the notifier starts reads back: a store that already
  has a baseline is marked `skipped`, and one that finished is `done`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypedDict, cast
from urllib.parse import urljoin, urlsplit

from notifier.events import JSONValue, Kept
from notifier.rules.history import DAY, kept_fields
from notifier.rules.schema import Rule
from notifier.sources import content
from notifier.sources.attempts import keep_attempts
from notifier.sources.base import PollContext, PollResult
from notifier.sources.content import FINAL_STATE_CODES, FINAL_STATES, read_page
from notifier.sources.exam_scan import LIST as ATTEMPTS_PATH
from notifier.sources.lookups import Lookups
from notifier.state import PollStore
from notifier.testpress.client import Page, Query, TestpressClient, TestpressError, local_path
from notifier.testpress.models import Attempt
from notifier.testpress.plain import parse_data

log = logging.getLogger(__name__)

SCOPE = "readback"  # the store's source-state scope of the cursor
PROGRESS_PAGES = 50  # a progress line every this many pages...
PROGRESS_SECONDS = 60.0  # ...or this often, whichever comes first
INACTIVITY_WAITS = DAY  # the daily check waits for an unfinished read-back this long
READING, DONE, SKIPPED = "reading", "done", "skipped"


def plan(sources_in_use: Sequence[str]) -> list[str]:
    """The lists to read back for the sources the rules use: the exam attempts list,
    and the content attempts list once per final state."""
    lists = ["attempts"] if "attempts" in sources_in_use else []
    if "content_attempts" in sources_in_use:
        lists += [f"content_attempts:{state}" for state in FINAL_STATE_CODES]
    return lists


class ReadbackCursor(TypedDict, total=False):
    """Where the read-back is, as the source state keeps it."""

    status: str  # READING, DONE or SKIPPED
    since: str  # the first start date read (ISO)
    keep_after: float  # Unix seconds: older events are not kept
    lists: list[str]  # the lists still to read, the current one first
    next: str | None  # the current list's next page
    pages: int
    kept: int
    began: float
    finished: float


class ReadBack:
    """The read-back of one store, driven by the run loop: `begin` once at start, then
    `step` each cycle until `pending` is false."""

    def __init__(
        self,
        store: PollStore,
        client: TestpressClient,
        days: float,
        *,
        clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.days = days
        self.clock = clock
        self.stop = stop or threading.Event()
        self._logged_at = 0.0
        self._logged_pages = 0

    # -- state ----------------------------------------------------------------------------

    def cursor(self) -> ReadbackCursor:
        cur: ReadbackCursor | None = self.store.sources.get_state(SCOPE, "cursor")
        return cur if isinstance(cur, dict) else ReadbackCursor()

    @property
    def pending(self) -> bool:
        return self.cursor().get("status") == READING

    def holds_inactivity(self) -> bool:
        """Whether the daily inactivity check should wait: the read-back is unfinished
        and began less than INACTIVITY_WAITS ago (a read-back that keeps failing must not
        stop the check for good)."""
        cur = self.cursor()
        if cur.get("status") != READING:
            return False
        return self.clock() - float(cur.get("began", 0)) < INACTIVITY_WAITS

    def begin(self, sources_in_use: Sequence[str], new_store: bool) -> None:
        """Decide, once per store, whether it reads back: only a new one (no source
        baseline yet) with NOTIFIER_HISTORY_DAYS above 0 and a list some rule uses."""
        if self.cursor():
            return
        now = self.clock()
        lists = plan(sources_in_use)
        if not new_store or self.days <= 0 or not lists:
            self._save(ReadbackCursor(status=SKIPPED), [], now)
            return
        # A day early, as the sources filter: the API takes dates in the institute's zone.
        since = (datetime.fromtimestamp(now, UTC) - timedelta(days=self.days + 1)).date()
        cur = ReadbackCursor(
            status=READING,
            since=since.isoformat(),
            keep_after=now - self.days * DAY,
            lists=lists,
            next=None,
            pages=0,
            kept=0,
            began=now,
        )
        self._save(cur, [], now)
        log.info(
            "history read-back: a new state store; reading back %g days of completed "
            "attempts (%s) into history, alerting on none",
            self.days,
            ", ".join(lists),
        )

    # -- reading --------------------------------------------------------------------------

    def slice(self, rules: Sequence[Rule], budget: float | None) -> bool:
        """The run loop's call: `step` for at most `budget` seconds, keeping what the
        rules keep; a surprise is logged and resumed next cycle, never raised (the
        read-back never stops the live polls). Whether it is finished."""
        try:
            return self.step(rules, kept_fields(rules), budget)
        except Exception:  # noqa: BLE001
            log.exception("history read-back failed; resuming next cycle")
            return False

    def step(
        self, rules: Sequence[Rule], fields: Mapping[str, frozenset[str]], budget: float | None
    ) -> bool:
        """Read pages until done, `budget` seconds have passed (None: no limit) or the
        notifier stops. Returns whether the read-back is finished (or never ran)."""
        cur = self.cursor()
        if cur.get("status") != READING:
            return True
        deadline = None if budget is None else time.monotonic() + budget
        ctx = PollContext(
            client=self.client,
            store=self.store,
            rules=rules,
            now=datetime.fromtimestamp(self.clock(), UTC),
            lookback_hours=self.days * 24,
            baseline=True,
            history_fields=fields,
        )
        lookups = Lookups(self.store.sources, self.client)
        while cur["lists"]:
            name = cur["lists"][0]
            path, params = self._where(name, cur)
            pages = cast(Generator[Page, None, None], self.client.pages(path, params))
            try:
                for page in pages:
                    kept = self._keep(name, page.results, ctx, lookups, float(cur["keep_after"]))
                    nxt = self._local(path, page.next)
                    cur = {**cur, "next": nxt, "pages": cur["pages"] + 1}
                    cur["kept"] += len(kept)
                    if nxt is None:
                        cur["lists"] = cur["lists"][1:]
                    self._save(cur, kept, self.clock())
                    self._progress(cur, name, page.count)
                    out_of_time = deadline is not None and time.monotonic() >= deadline
                    if (self.stop.is_set() or out_of_time) and cur["lists"]:
                        return False  # resumed next cycle (all read: done below)
                    if nxt is None:
                        break
                else:
                    if cur["lists"] and cur["lists"][0] == name:  # the walk ended early
                        cur = {**cur, "next": None, "lists": cur["lists"][1:]}
                        self._save(cur, [], self.clock())
            except TestpressError as exc:
                log.warning(
                    "history read-back: %s could not be read (%s); resuming there next cycle",
                    name,
                    exc,
                )
                return False
            finally:
                pages.close()
        cur = {**cur, "status": DONE, "next": None, "finished": self.clock()}
        self._save(cur, [], self.clock())
        log.info(
            "history read-back done: %d events kept from %d pages in %.0f s",
            cur["kept"],
            cur["pages"],
            cur["finished"] - float(cur["began"]),
        )
        return True

    def _where(self, name: str, cur: ReadbackCursor) -> tuple[str, Query | None]:
        """Where the list resumes (its `next` page), or its first page. No filter the
        rules pin is pushed into it: the past is every student's activity (the
        inactivity check's) and what a rule added later may count."""
        if cur.get("next"):
            return str(cur["next"]), None
        kind, _, state = name.partition(":")
        if kind == "attempts":
            return ATTEMPTS_PATH, {"state": 1, "date_0": cur["since"], "ordering": "date"}
        return content.PATH, {"completed_after": cur["since"], "state": int(state)}

    def _local(self, path: str, nxt: str | None) -> str | None:
        if nxt is None:
            return None
        base = urlsplit(self.client.base_url).path.rstrip("/")
        return local_path(base, urljoin(self.client.base_url + path, nxt))

    def _keep(
        self,
        name: str,
        results: JSONValue,
        ctx: PollContext,
        lookups: Lookups,
        keep_after: float,
    ) -> list[Kept]:
        """One page as history: the completed items no live source has seen, each with
        the fields and titles the live source keeps."""
        result = PollResult()
        if name == "attempts":
            rows = parse_data(Attempt, results or [], where=ATTEMPTS_PATH, cleaned=True)
            rows = [r for r in rows if str(r.get("state") or "Completed") == "Completed"]
            fresh = self.store.seen.unseen("attempts", [str(r["id"]) for r in rows])
            keep_attempts(ctx, result, [r for r in rows if str(r["id"]) in fresh], lookups)
        else:
            joined, _ = read_page(results)
            final = {
                str(d["id"]): d for d in joined if str(d.get("state") or "").lower() in FINAL_STATES
            }
            for key in sorted(self.store.seen.unseen("content_attempts", final)):
                result.keep(ctx, content.KIND, key, final[key])
        return [k for k in result.history if k.at >= keep_after]

    def _save(self, cur: ReadbackCursor, kept: list[Kept], now: float) -> None:
        """The page's history and the cursor after it, in one transaction."""
        self.store.seen.record(SCOPE, [], [], state={"cursor": cur}, now=now, history=kept)

    def _progress(self, cur: ReadbackCursor, name: str, count: int | None) -> None:
        """A line every PROGRESS_PAGES pages or PROGRESS_SECONDS, not one per page."""
        now = time.monotonic()
        if not self._logged_at:
            self._logged_at = now
        pages = int(cur["pages"])
        if pages - self._logged_pages < PROGRESS_PAGES and now - self._logged_at < PROGRESS_SECONDS:
            return
        self._logged_at, self._logged_pages = now, pages
        log.info(
            "history read-back: %d pages read, %d events kept; reading %s (%s completed)",
            pages,
            cur["kept"],
            name,
            "?" if count is None else f"{count:,}",
        )
