"""The state store's interface: what app, sources and delivery may ask of it.

One Protocol per concern, so a reader sees what each part of the pipeline relies on,
and a second backend (PostgreSQL) knows exactly what to implement with which
transactions:

- `SeenMarks`: which keys each source has seen, and `record`, the ONE transaction that
  marks a cycle's keys seen, queues its deliveries and saves the source's cursor. The
  delivery guarantees rest on it: a crash never leaves an event seen without its
  deliveries, nor queued twice (one row per (rule, event key, channel), insert-or-ignore).
- `Outbox`: claiming due rows with a lease, recording outcomes, replay.
- `SourceState`: each source's last poll, and small JSON state (cursors, look-up caches).
- `History`: each event compactly, and each student's latest activity (contract
  section 11), written by `record` in the same transaction as the seen marks.
- `Meta`: schema version, baselines, pruning.
- `DeliveryLog`: what was sent, read for people (`notifier deliveries`, `status`).
- `Inbox`: Testpress's pushed webhooks, recorded before they are answered.
- `Faults`: rows that failed in processing (contract section 7, "No poison"): their
  tries counted, retried with backoff, set aside as dead after FAULT_TRIES.

The store itself (`Store`: a handle whose attributes are these concerns) and the joins
of a few concerns that some parts take are in `notifier.state.store`; the concerns of
what people do to alerts (mutes, follow-ups, the audit log) in `actions_base`.

Times are Unix seconds (floats) throughout; callers pass `now` so tests control time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypedDict

from notifier.events import Activity, JSONValue, Kept
from notifier.state.packed import alerts_text
from notifier.state.rows import Row

STATUSES = ("queued", "retrying", "sent", "dead", "muted")
# What `DeliveryLog.delivery_list` gives of each row (`alerts` as stored: JSON text).
DELIVERY_COLUMNS = (
    "id", "rule", "channel", "event", "status", "attempts", "last_error", "created_at",
    "sent_at", "alerts",
)  # fmt: skip

# A row that fails in processing (an inbox row, an outbox row whose rendering or
# recording raised, a polled record) is tried this many times in all, waiting
# FAULT_FIRST_SECONDS, then twice as long each time, then set aside as dead.
FAULT_TRIES = 5
FAULT_FIRST_SECONDS = 30.0
POISON_TABLES = ("inbox", "outbox", "records")
# `Faults.poisoned_counts`, named by POISON_TABLES (`?` marks; PostgreSQL's are `%s`).
POISONED_COUNTS = (
    "SELECT (SELECT COUNT(*) FROM inbox WHERE status = 'dead') AS inbox, "
    "(SELECT COUNT(*) FROM outbox WHERE status = 'dead' AND faults >= ?) AS outbox, "
    "(SELECT COUNT(*) FROM record_faults WHERE status = 'dead') AS records"
)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says the store itself is unavailable (locked, full, unreachable,
    a broken connection) rather than that one row cannot be processed: an outage is
    never counted against a row (contract section 7: an outage is not poison)."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    psycopg = sys.modules.get("psycopg")  # loaded only when PostgreSQL is used
    if psycopg is not None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    return type(exc).__name__ == "StoreUnavailable"


def fault_retry_at(tries: int, now: float) -> float | None:
    """When to try again after `tries` failed processing tries; None: set it aside."""
    if tries >= FAULT_TRIES:
        return None
    return now + FAULT_FIRST_SECONDS * 2.0 ** max(0, tries - 1)


def delivery_id(rule: str, kind: str, key: str, channel: str) -> str:
    """Stable id of the delivery of one (rule, event key, channel): the same on every
    retry and after a restart, so receivers can de-duplicate on it."""
    digest = hashlib.sha256(f"{rule}\0{kind}\0{key}\0{channel}".encode()).hexdigest()
    return f"msg_{digest[:28]}"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class OutboxRow:
    id: str
    rule: str
    channel: str
    event: str
    event_key: str
    alerts: list[dict[str, JSONValue]]
    status: str
    attempts: int
    created_at: float
    group_key: str | None = None  # rows of one rule and channel in one group go out together


def outbox_row(row: Row) -> OutboxRow:
    """An outbox row read by name (its `alerts` unpacked) as an OutboxRow."""
    return OutboxRow(
        id=row["id"],
        rule=row["rule"],
        channel=row["channel"],
        event=row["event"],
        event_key=row["event_key"],
        alerts=json.loads(alerts_text(row["alerts"])),
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        group_key=row["group_key"],
    )


@dataclass(frozen=True)
class NewDelivery:
    rule: str
    channel: str
    event: str
    event_key: str
    alerts: list[dict[str, JSONValue]]
    group: str | None = None  # see notifier.rules.policy
    not_before: float | None = None  # None: due at once

    @property
    def id(self) -> str:
        return delivery_id(self.rule, self.event, self.event_key, self.channel)


@dataclass(frozen=True)
class InboxRow:
    id: int
    kind: str  # "exam" or "chapter-content": which webhook sent it
    body: str  # the payload as received (a JSON object, verified)
    received_at: float
    tries: int  # processing attempts that failed so far


class SeenMarks(Protocol):
    def has_baseline(self, source: str) -> bool: ...

    def unseen(self, source: str, keys: Iterable[str]) -> set[str]:
        """The keys of `source` not marked seen yet."""
        ...

    def count_seen(self, source: str, prefix: str) -> int:
        """How many keys of `source` that start with `prefix` are marked seen. Sources
        count what they have read of a list this way (notifier.sources.counted), so it
        must stay cheap at 100,000 keys (a range scan of an index on (source, key))."""
        ...

    def record(
        self,
        source: str,
        seen_keys: Iterable[str],
        deliveries: Iterable[NewDelivery],
        *,
        baseline: bool = False,
        state: Mapping[str, object] | None = None,
        now: float | None = None,
        history: Iterable[Kept] = (),
    ) -> int:
        """Mark keys seen, queue deliveries, save the source's `state` and keep the
        events' `history` (and the students' latest activity), in ONE transaction.
        Returns how many deliveries were new."""
        ...


SentRow = tuple[str, float, str | None, str]  # a sent row: id, when, its ref, the answer


class Outbox(Protocol):
    def release_all_claims(self) -> int: ...

    def claim_due(
        self, now: float, lease_seconds: float, limit_per_channel: int = 500
    ) -> list[OutboxRow]:
        """Claim due rows with a lease: no row is claimed by two callers at once."""
        ...

    def pending_group(self, rule: str, channel: str, group: str) -> float | None: ...

    def last_group_send(self, rule: str, channel: str, group: str) -> float | None: ...

    def mark_sent(
        self, ids: Iterable[str], now: float, ref: str | None = None, answer: str = ""
    ) -> None:
        """Mark rows sent; `ref` (JSON) is the receiver's id for the message they made
        (Slack's channel and ts, an email's Message-ID), kept so a later action can
        update that message. The try (with the receiver's `answer` in short, "200") is
        kept in `outbox_tries` in the same transaction."""
        ...

    def mark_sent_each(self, sent: Sequence[SentRow]) -> None:
        """`mark_sent` of one row each, (id, at, ref, answer), all in one transaction:
        the group commit's usual batch (on SQLite, one statement)."""
        ...

    def message_ref(self, id_: str) -> str | None:
        """The receiver's id for the message a sent row was part of (JSON), if any."""
        ...

    def mark_failed(
        self, id_: str, *, now: float, next_at: float | None, error: str, answer: str = ""
    ) -> None: ...

    def mark_failed_many(
        self, ids: Iterable[str], *, now: float, next_at: float | None, error: str, answer: str = ""
    ) -> None:
        """Record a failed try (retry at `next_at`, dead when None) and keep it, with
        the receiver's answer ("503", "ratelimited"), in `outbox_tries`, at once."""
        ...

    def release(self, ids: Iterable[str]) -> None: ...

    def replay(self, ids: Iterable[str] | None, now: float) -> int: ...

    def delivery_counts(self) -> dict[str, int]: ...

    def dead_by_channel(self) -> dict[str, tuple[int, str | None]]:
        """Per channel with dead deliveries: how many, and the latest one's error."""
        ...

    def deliveries(self, status: str | None = None) -> Iterator[Row]: ...


class SourceStatus(TypedDict):
    """A source's last poll, as `status` and the console show it."""

    last_success: str | None  # ISO 8601
    last_error: str | None


class SourceState(Protocol):
    def source_polled(self, source: str, *, ok: bool, error: str | None, now: float) -> None: ...

    def source_statuses(self) -> dict[str, SourceStatus]: ...

    # the JSON column as stored: each source makes its own cursor or cache of it
    def get_state(self, scope: str, key: str) -> Any: ...

    def put_state(
        self, scope: str, items: Mapping[str, object], now: float | None = None
    ) -> None: ...


class History(Protocol):
    def history(self, kind: str, subjects: Iterable[str] | None, since: float) -> list[Kept]:
        """Kept events of `kind` at or after `since`, oldest first per student: of
        these students (`subject`s), or of every student when `subjects` is None."""
        ...

    def history_since(self) -> float | None:
        """The time of the oldest kept event; None when none is kept."""
        ...

    def activities(self, since: float) -> list[Activity]:
        """Every student's latest activity at or after `since`."""
        ...

    def prune_history(self, *, before: float, activity_before: float) -> dict[str, int]: ...


class Meta(Protocol):
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def prune(
        self, *, seen_before: float, sent_before: float, dead_before: float
    ) -> dict[str, int]: ...

    def compact(self) -> int:
        """After pruning: give the freed pages back (pages; 0 where the database does
        it itself), so the store's file is no larger than what it keeps."""
        ...


class Inbox(Protocol):
    def inbox_add(self, items: Sequence[tuple[str, str]], now: float) -> list[int]:
        """Record (kind, body) payloads as pending in ONE transaction that is durable
        when this returns (the webhook is answered 200 only then). Returns their ids."""
        ...

    def inbox_pending(self, now: float, limit: int = 500) -> list[InboxRow]:
        """Pending rows due for processing (a failed one waits for its `next_at`),
        oldest first."""
        ...

    def inbox_done(self, ids: Iterable[int], now: float, error: str | None = None) -> None:
        """Processed (or given up on, with `error`): never processed again."""
        ...

    def inbox_retry(self, ids: Iterable[int], *, now: float, next_at: float, error: str) -> None:
        """Processing failed (Testpress could not be read): try again at `next_at`."""
        ...

    def inbox_prune(self, done_before: float) -> int:
        """Forget rows done before `done_before`. Returns how many."""
        ...

    def inbox_receive(self, items: Sequence[tuple[str, str, str]], now: float) -> list[int]:
        """As `inbox_add`, for (kind, received key, body) payloads, each recorded only
        when no payload of its kind was received under its key before (nor earlier in
        `items`): a replay is not stored again. Returns the ids of the rows added."""
        ...

    def inbox_prune_received(self, before: float) -> int:
        """Forget the keys received before `before` (then a replay is stored once
        more, and the seen marks decide). Returns how many."""
        ...


class DeliveryLog(Protocol):
    """Read-only questions about deliveries, for people (`notifier deliveries`,
    `status`, `replay ID`), and clearing what no rule will ever retry."""

    def delivery_list(
        self,
        *,
        status: str | None = None,
        rule: str | None = None,
        channel: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> Sequence[Row]:
        """Rows (DELIVERY_COLUMNS) newest first: queued at or after `since`."""
        ...

    def delivery_statuses(self, ids: Iterable[str]) -> dict[str, str]:
        """id -> status for those of `ids` that exist."""
        ...

    def clear_source_errors(self, keep: Iterable[str]) -> int:
        """Forget the poll error of each source not in `keep` (no rule uses it)."""
        ...


@dataclass(frozen=True)
class RecordFault:
    """A polled record that failed in processing: how often, and what now."""

    tries: int
    status: str  # "retrying" (due again at next_at) or "dead" (set aside)
    next_at: float
    error: str | None


def record_fault_of(row: Row) -> RecordFault:
    """A `record_faults` row (tries, status, next_at, last_error) as a RecordFault."""
    return RecordFault(row["tries"], row["status"], row["next_at"], row["last_error"])


class PoisonedRow(TypedDict):
    """A row set aside after failing in processing, as `notifier status` shows it."""

    table: str  # a POISON_TABLES name
    id: str
    tries: int
    error: str | None
    at: str | None  # ISO 8601


def poisoned_row(row: Row) -> PoisonedRow:
    """A row of the `poisoned` query (t, id, tries, last_error, at) as `poisoned` gives it."""
    return {
        "table": row["t"],
        "id": str(row["id"]),
        "tries": row["tries"],
        "error": row["last_error"],
        "at": iso(row["at"]),
    }


class Faults(Protocol):
    def inbox_dead(self, ids: Iterable[int], now: float, error: str) -> None:
        """Set pushed webhooks aside as dead: failed FAULT_TRIES times in processing."""
        ...

    def outbox_faulted(self, ids: Iterable[str], *, now: float, error: str) -> bool:
        """One more processing failure (not a channel's answer) of the rows one message
        carried: retried with backoff, dead at FAULT_TRIES. True when now dead."""
        ...

    def record_faults(self, source: str, keys: Iterable[str]) -> dict[str, RecordFault]:
        """The polled records of `source` among `keys` that failed in processing before."""
        ...

    def record_fault(self, source: str, key: str, *, now: float, error: str) -> RecordFault:
        """One more processing failure of a polled record: its new standing."""
        ...

    def record_faults_clear(self, source: str, keys: Iterable[str]) -> None:
        """These records were processed after all: forget their failures."""
        ...

    def poisoned_counts(self) -> dict[str, int]:
        """Rows set aside as dead after failing in processing, per POISON_TABLES name."""
        ...

    def poisoned(self, limit: int = 20) -> list[PoisonedRow]:
        """The latest such rows: table, id, tries, error, at (ISO time)."""
        ...

    def prune_poisoned(self, before: float) -> int:
        """Forget dead inbox rows and record faults from before `before`."""
        ...
