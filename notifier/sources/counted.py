"""A list read only where it grew: its `count` checked against what was already read.

For a filter whose set of rows only grows (content attempts completed since a date, in
one state), the rows already read are kept as seen keys ("members", `<tag><gen>:<id>`).
Each cycle reads page 1: when its `count` equals the members, nothing is new (one
request, whatever the size of the list). When it is higher, the pages most likely to
hold the new rows are read first, alternately from each end (a server may list oldest
or newest first; new rows join one end or, for an old attempt completing, near it),
until as many new rows were found as the count said. A row that arrives while the
list is read, or that a shift of rows between pages kept out of sight, leaves the next
check short again, so it is read then: nothing is lost, it can only be a cycle late.
Bounds on that: a deficit that lasts `STALE_DEFICIT` reads every page, and so does
the reconciliation every NOTIFIER_RECONCILE_MINUTES; members above the count (a row
deleted) rebuild the members from a full read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypedDict, TypeVar

from notifier.events import JSONValue
from notifier.state.base import SeenMarks
from notifier.testpress.client import Query, TestpressClient, TestpressError

# As in notifier.sources.exam_scan: how long a deficit may last before every page is read.
STALE_DEFICIT = timedelta(minutes=5)

T = TypeVar("T")
#: Parses one page's `results` (Testpress's JSON) into (item id, item) pairs.
Parse = Callable[[JSONValue], list[tuple[str, T]]]


class ListCursor(TypedDict, total=False):
    """A counted list's cursor, as the source state keeps it."""

    gen: int
    accepted: int
    deficit_since: str | None  # ISO time
    reconciled_at: str | None  # ISO time


@dataclass
class Counted(Generic[T]):
    """The rows read this cycle (id -> item), the new member keys (key -> id), the list's
    cursor to save, and how many requests it took."""

    found: dict[str, T] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)
    cursor: ListCursor = field(default_factory=lambda: ListCursor())
    requests: int = 0


class CountedList(Generic[T]):
    """One counted list (see the module docstring): `read` once per cycle."""

    def __init__(
        self,
        client: TestpressClient,
        store: SeenMarks,
        source: str,
        path: str,
        parse: Parse[T],
        *,
        now: datetime,
        reconcile: timedelta,
    ) -> None:
        self.client = client
        self.store = store
        self.source = source
        self.path = path
        self.parse = parse
        self.now = now
        self.reconcile = reconcile

    def read(self, params: Query, cur: ListCursor, *, tag: str, rebuild: bool) -> Counted[T]:
        out: Counted[T] = Counted()
        gen = int(cur.get("gen", 0)) + (1 if rebuild or "gen" not in cur else 0)
        prefix = f"{tag}{gen}:"
        stored = self.store.count_seen(self.source, prefix)
        accepted = 0 if rebuild else int(cur.get("accepted", 0))
        now_s = self.now.isoformat()
        reconciled = cur.get("reconciled_at")
        since = cur.get("deficit_since")
        # A full read due anyway makes the check: its first page is page 1.
        full = rebuild or "gen" not in cur or _age(self.now, reconciled) >= self.reconcile
        count = per_page = deficit = 0
        if not full:
            body = self._get(params, None, out)
            count, per_page = _count(body), _per_page(body)
            self._take(body, prefix, out)
            deficit = count - stored - len(out.members) - accepted
            since = (since or now_s) if deficit > 0 else None
        if deficit < 0:
            gen += 1
            prefix, stored, out.members = f"{tag}{gen}:", 0, {}
            full = True
        if deficit > 0 and not full:
            if since is not None and _age(self.now, since) >= STALE_DEFICIT:
                full = True
            else:
                last = -(-count // max(1, per_page))
                for page in _ends_first(2, last):
                    if len(out.members) >= count - stored - accepted:
                        break
                    try:
                        self._take(self._get(params, page, out), prefix, out)
                    except TestpressError as exc:
                        if exc.status != 404:  # past the end: the list shrank meanwhile
                            raise
                else:  # every page read and still short: read properly, by `next`
                    full = len(out.members) < count - stored - accepted
                # Exactly the deficit found (nothing arrived meanwhile): all found.
                if len(out.members) == count - stored - accepted:
                    since = None
        if full:
            first: int | None = None
            for whole in self.client.pages(self.path, params):
                out.requests += 1
                first = _count(whole.raw) if first is None else first
                self._take(whole.raw, prefix, out)
            accepted = max(0, (first or 0) - stored - len(out.members))
            reconciled = now_s
            since = None  # every row there when the read began was read
        out.cursor = {
            "gen": gen,
            "accepted": accepted,
            "deficit_since": since,
            "reconciled_at": reconciled,
        }
        return out

    def _get(self, params: Query, page: int | None, out: Counted[T]) -> JSONValue:
        out.requests += 1
        query = params if page is None else {**params, "page": page}
        return self.client.get(self.path, query)

    def _take(self, body: JSONValue, prefix: str, out: Counted[T]) -> None:
        results = body.get("results") if isinstance(body, dict) else None
        items = self.parse(results)
        keys: dict[str, str] = {}
        for item_id, item in items:
            out.found.setdefault(item_id, item)
            key = f"{prefix}{item_id}"
            if key not in out.members:
                keys[key] = item_id
        for key in self.store.unseen(self.source, keys):
            out.members[key] = keys[key]


def _ends_first(low: int, high: int) -> Iterator[int]:
    """high, low, high-1, low+1, ...: the pages nearest either end of the list first."""
    while low <= high:
        yield high
        if low < high:
            yield low
        low, high = low + 1, high - 1


def _count(body: JSONValue) -> int:
    value = body.get("count") if isinstance(body, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _per_page(body: JSONValue) -> int:
    value = body.get("per_page") if isinstance(body, dict) else None
    if isinstance(value, int) and value > 0:
        return value
    results = body.get("results") if isinstance(body, dict) else None
    if isinstance(results, dict):
        results = next((v for v in results.values() if isinstance(v, list)), [])
    return max(1, len(results or []))


def _age(now: datetime, iso: str | None) -> timedelta:
    try:
        return now - datetime.fromisoformat(str(iso))
    except (TypeError, ValueError):
        return timedelta.max
