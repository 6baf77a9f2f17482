"""What every source shares: the context a poll gets, the result it returns, and staged
enrichment (fetch a costlier stage of fields only for events some rule still wants)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol, TypeAlias

from notifier.events import STAGE_ORDER, Event, FieldValue, JSONScalar, Kept, Stage
from notifier.rules.evaluate import prefilter, time_of
from notifier.rules.history import to_kept
from notifier.rules.schema import Rule
from notifier.state import PollStore
from notifier.testpress.client import TestpressClient, TestpressError

log = logging.getLogger(__name__)

DETAIL_CONCURRENCY = 8
# One item as a source builds it: the event's fields (from the typed models'
# `to_data()`), filled in stage by stage and labelled; it becomes an `Event`'s data.
Record: TypeAlias = dict[str, FieldValue]
# A list query's filters (`exams`, `users`, ...), as the Testpress client sends them.
Filters: TypeAlias = dict[str, JSONScalar]


@dataclass
class PollContext:
    client: TestpressClient
    store: PollStore
    rules: Sequence[Rule]  # the rules of this source's event kinds
    now: datetime  # aware, UTC
    lookback_hours: float
    baseline: bool  # first cycle for this source: record, alert on nothing
    since: date | None = None
    conference_settle_minutes: float = 30.0
    extra_conferences: Sequence[int] = ()
    # Per event kind, the fields history keeps (notifier.rules.history.kept_fields);
    # a kind not named here keeps no history.
    history_fields: Mapping[str, frozenset[str]] = field(default_factory=dict)
    inactivity_check_at: str = "08:00"  # HH:MM in `timezone`
    timezone: str = "Asia/Kolkata"
    reconcile_minutes: float = 60.0  # NOTIFIER_RECONCILE_MINUTES: the whole window read


@dataclass
class PollResult:
    events: list[Event] = field(default_factory=list)  # new, enriched, ready to evaluate
    seen: list[str] = field(default_factory=list)  # keys to mark seen (events' keys included)
    state: dict[str, object] = field(default_factory=dict)  # cursor saved with the seen marks
    errors: list[str] = field(default_factory=list)  # partial failures; the keys stay unseen
    # New items read, matching a rule or not, when `events` holds only the matching ones.
    read: int | None = None
    # Every new item read (baseline included), as history keeps it: events no rule
    # matches too, since "3 in a row" and "the previous attempt" need them.
    history: list[Kept] = field(default_factory=list)
    # False on every part of a poll handed over in parts (`Source.poll_parts`) but the
    # last: such a part is recorded at once in its own transaction, without the
    # source's `state` or the baseline mark, which go with the last part only.
    last: bool = True

    def keep(self, ctx: PollContext, kind: str, key: str, data: Record) -> None:
        """Keep a new item in the history (when `ctx` says its kind keeps any)."""
        fields = ctx.history_fields.get(kind)
        if fields is None:
            return
        event = Event(kind, key, data)
        kept = to_kept(event, time_of(event, ctx.now.timestamp()), fields)
        if kept is not None:
            self.history.append(kept)


class Source(Protocol):
    name: str
    kinds: tuple[str, ...]

    def poll(self, ctx: PollContext) -> PollResult: ...

    def query_filters(self, rules: Sequence[Rule]) -> Filters: ...


def poll_parts(source: Source, ctx: PollContext) -> Iterator[PollResult]:
    """A source's poll in parts, each recorded in its own transaction: its own
    `poll_parts` where it has one (a large backlog, memory bounded), else `poll`
    as one part."""
    parts: Callable[[PollContext], Iterator[PollResult]] | None = getattr(
        source, "poll_parts", None
    )
    if parts is None:
        yield source.poll(ctx)
    else:
        yield from parts(ctx)


def merge_parts(parts: Iterable[PollResult]) -> PollResult:
    """The parts of a poll as one result (what `poll` returns for a source that
    polls in parts)."""
    whole = PollResult(read=0)
    for part in parts:
        whole.events += part.events
        whole.seen += part.seen
        whole.state.update(part.state)
        whole.errors += part.errors
        whole.history += part.history
        whole.read = (whole.read or 0) + (len(part.events) if part.read is None else part.read)
    return whole


Fetcher = Callable[[Record], Record]


def stages_wanted(rules: Iterable[Rule], data: Record, have: set[Stage]) -> set[Stage]:
    """The stages some rule still needs for this event: rules whose conditions on the
    fields in hand have not already failed."""
    wanted: set[Stage] = set()
    for rule in rules:
        missing = set(rule.stages) - have
        if missing and prefilter(rule, data, have):
            wanted |= missing
    return wanted


def enrich(
    records: list[Record],
    rules: Sequence[Rule],
    fetchers: Mapping[Stage, Fetcher],
    have: set[Stage],
    errors: list[str],
) -> list[Record]:
    """Fetch, stage by stage from the cheapest, the fields rules need; records whose
    fetch fails are dropped (and stay unseen, so the next cycle tries them again)."""
    current = records
    for stage in STAGE_ORDER:
        if stage in have or stage not in fetchers:
            continue
        need = [r for r in current if stage in stages_wanted(rules, r, have)]
        if need:
            failed = _fetch_all(need, fetchers[stage], stage, errors)
            current = [r for r in current if id(r) not in failed]
        have = have | {stage}
    return current


def _fetch_all(records: list[Record], fetch: Fetcher, stage: str, errors: list[str]) -> set[int]:
    def one(record: Record) -> tuple[Record, str | None]:
        try:
            return fetch(record), None
        except TestpressError as exc:
            return {}, str(exc)

    failed: set[int] = set()
    with ThreadPoolExecutor(min(DETAIL_CONCURRENCY, len(records))) as pool:
        for record, (extra, error) in zip(records, pool.map(one, records), strict=True):
            if error is not None:
                failed.add(id(record))
                errors.append(f"{stage} of {record.get('id')}: {error}")
                log.warning("could not fetch %s of %s: %s", stage, record.get("id"), error)
            else:
                record.update(extra)
    return failed
