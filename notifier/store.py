"""The SQLite state store: what has been seen, what must still be sent, and how polls went.

One file, WAL mode. Each connection belongs to one thread: the main loop's, and one per
delivery worker (opened with `any_thread` so it can be closed at shutdown). The
invariant the delivery guarantees rest on: the seen marks of a cycle and the outbox
rows its matches produce are written in ONE transaction (`record`), so a crash can
never leave an event marked seen without its deliveries queued, nor queued twice.

Outbox rows move queued -> sent, or queued -> retrying (next_at in the future) -> ...
-> sent or dead. A row being sent is *claimed* with a lease (`claimed_until`); a process
that dies mid-send leaves a lease that simply expires, and a new process, which holds
the single-instance lock, releases every claim at start-up so those sends are made
again at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from notifier.migrations import _MIGRATIONS, SCHEMA_VERSION

STATUSES = ("queued", "retrying", "sent", "dead")


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
    alerts: list[dict[str, Any]]
    status: str
    attempts: int
    created_at: float
    group_key: str | None = None  # rows of one rule and channel in one group go out together


@dataclass(frozen=True)
class NewDelivery:
    rule: str
    channel: str
    event: str
    event_key: str
    alerts: list[dict[str, Any]]
    group: str | None = None  # see notifier.policy
    not_before: float | None = None  # None: due at once

    @property
    def id(self) -> str:
        return delivery_id(self.rule, self.event, self.event_key, self.channel)


def open_store(path: Path | str) -> Store:
    """The store a command uses; a path that cannot be opened is a configuration
    problem (exit 2) naming NOTIFIER_DB, not a traceback."""
    from notifier.settings import ConfigError

    try:
        return Store(path)
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([f"NOTIFIER_DB: cannot open the state store {path}: {reason}"]) from None


def _create_private(path: Path) -> None:
    """Create the store readable by its owner only (it holds names and emails)."""
    if str(path) == ":memory:" or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


class Store:
    def __init__(self, path: Path | str, *, any_thread: bool = False):
        """Open (creating and migrating) the store. With `any_thread`, the connection
        may be used from another thread than the one that opened it (one thread at a
        time): the delivery workers each get such a connection of their own."""
        self.path = Path(path)
        _create_private(self.path)
        if any_thread:
            self.db = sqlite_utils.Database(sqlite3.connect(self.path, check_same_thread=False))
        else:
            self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA busy_timeout = 5000")
        if str(path) != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def close(self) -> None:
        self.db.close()

    # -- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self.get_meta("schema_version") if "meta" in self.db.table_names() else None
        if version is not None and int(version) > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer notifier (schema {version}); "
                f"this one knows schema {SCHEMA_VERSION}"
            )
        current = 0 if version is None else int(version)
        for target, script in _MIGRATIONS:
            if current < target:
                with self.db.atomic():
                    for statement in script.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self._set_meta("schema_version", str(target))
                current = target

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def set_meta(self, key: str, value: str) -> None:
        with self.db.atomic():
            self._set_meta(key, value)

    # -- seen -----------------------------------------------------------------------------

    def has_baseline(self, source: str) -> bool:
        return self.get_meta(f"baseline:{source}") is not None

    def unseen(self, source: str, keys: Iterable[str]) -> set[str]:
        """The keys of `source` not marked seen yet."""
        keys = list(dict.fromkeys(keys))
        seen: set[str] = set()
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            seen.update(
                row[0]
                for row in self.db.execute(
                    f"SELECT key FROM seen WHERE source = ? AND key IN ({marks})",
                    [source, *chunk],
                )
            )
        return set(keys) - seen

    def record(
        self,
        source: str,
        seen_keys: Iterable[str],
        deliveries: Iterable[NewDelivery],
        *,
        baseline: bool = False,
        state: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> int:
        """Mark keys seen, queue deliveries and save the source's cursor `state` in one
        transaction. Returns how many deliveries were new (an existing (rule, key,
        channel) is never queued twice)."""
        now = time.time() if now is None else now
        with self.db.atomic():
            if state:
                self._put_state(source, state, now)
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO seen(source, key, seen_at) VALUES (?, ?, ?)",
                [(source, key, now) for key in seen_keys],
            )
            before = self.db.conn.total_changes
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO outbox(id, rule, channel, event, event_key, alerts, "
                "status, attempts, next_at, created_at, updated_at, group_key) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)",
                [
                    (
                        d.id,
                        d.rule,
                        d.channel,
                        d.event,
                        d.event_key,
                        json.dumps(d.alerts, default=str),
                        now if d.not_before is None else d.not_before,
                        now,
                        now,
                        d.group,
                    )
                    for d in deliveries
                ],
            )
            added = self.db.conn.total_changes - before
            if baseline:
                self._set_meta(f"baseline:{source}", iso(now) or "")
        return added

    # -- outbox ---------------------------------------------------------------------------

    def release_all_claims(self) -> int:
        """At start-up, with the single-instance lock held: any claim belongs to a dead
        process, so its sends are made again at once."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE outbox SET claimed_until = NULL WHERE claimed_until IS NOT NULL"
            )
        return cursor.rowcount

    def claim_due(
        self, now: float, lease_seconds: float, limit_per_channel: int = 500
    ) -> list[OutboxRow]:
        """Claim every due delivery (queued or retrying with next_at <= now, not claimed
        by a live lease), oldest first, at most `limit_per_channel` per channel."""
        with self.db.atomic():
            rows = self.db.execute(
                "SELECT id, rule, channel, event, event_key, alerts, status, attempts, created_at, "
                "group_key "
                "FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY next_at, "
                "created_at) AS n FROM outbox WHERE status IN ('queued', 'retrying') "
                "AND next_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)) "
                "WHERE n <= ? ORDER BY next_at, created_at",
                [now, now, limit_per_channel],
            ).fetchall()
            self.db.conn.executemany(
                "UPDATE outbox SET claimed_until = ? WHERE id = ?",
                [(now + lease_seconds, row[0]) for row in rows],
            )
        return [
            OutboxRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8], r[9])
            for r in rows
        ]

    def pending_group(self, rule: str, channel: str, group: str) -> float | None:
        """When the queued rows of this group are due (planning joins them)."""
        row = self.db.execute(
            "SELECT MIN(next_at) FROM outbox WHERE rule = ? AND channel = ? AND group_key = ? "
            "AND status = 'queued' AND attempts = 0",
            [rule, channel, group],
        ).fetchone()
        return None if row is None else row[0]

    def last_group_send(self, rule: str, channel: str, group: str) -> float | None:
        row = self.db.execute(
            "SELECT MAX(sent_at) FROM outbox WHERE rule = ? AND channel = ? AND group_key = ? "
            "AND status = 'sent'",
            [rule, channel, group],
        ).fetchone()
        return None if row is None else row[0]

    def mark_sent(self, ids: Iterable[str], now: float) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?, "
                "updated_at = ?, claimed_until = NULL, last_error = NULL WHERE id = ?",
                [(now, now, i) for i in ids],
            )

    def mark_failed(self, id_: str, *, now: float, next_at: float | None, error: str) -> None:
        """Record a failed try: retry at `next_at`, or dead when it is None."""
        self.mark_failed_many([id_], now=now, next_at=next_at, error=error)

    def mark_failed_many(
        self, ids: Iterable[str], *, now: float, next_at: float | None, error: str
    ) -> None:
        """Record a failed try of every row one message carried, in one transaction."""
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, next_at = ?, "
                "updated_at = ?, claimed_until = NULL, last_error = ? WHERE id = ?",
                [
                    (
                        "dead" if next_at is None else "retrying",
                        now if next_at is None else next_at,
                        now,
                        error[:500],
                        id_,
                    )
                    for id_ in ids
                ],
            )

    def release(self, ids: Iterable[str]) -> None:
        """Give back claimed rows that were not tried (a stop, a pass deadline)."""
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE outbox SET claimed_until = NULL WHERE id = ?", [(i,) for i in ids]
            )

    def replay(self, ids: Iterable[str] | None, now: float) -> int:
        """Queue dead deliveries again (all of them when ids is None), with a fresh
        retry budget."""
        with self.db.atomic():
            if ids is None:
                cursor = self.db.execute(
                    "UPDATE outbox SET status = 'queued', next_at = ?, created_at = ?, "
                    "attempts = 0, claimed_until = NULL WHERE status = 'dead'",
                    [now, now],
                )
                return cursor.rowcount
            count = 0
            for id_ in ids:
                cursor = self.db.execute(
                    "UPDATE outbox SET status = 'queued', next_at = ?, created_at = ?, "
                    "attempts = 0, claimed_until = NULL WHERE status = 'dead' AND id = ?",
                    [now, now, id_],
                )
                count += cursor.rowcount
            return count

    def delivery_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for status, n in self.db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"):
            counts[status] = n
        return counts

    def deliveries(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        sql = (
            "SELECT * FROM outbox"
            + (" WHERE status = ?" if status else "")
            + " ORDER BY created_at"
        )
        yield from self.db.query(sql, [status] if status else [])

    def prune(
        self, *, seen_before: float, sent_before: float, dead_before: float
    ) -> dict[str, int]:
        """Forget what can no longer matter, so the store stays bounded over months:
        seen keys older than any poll can reach again, sent deliveries as old, dead
        deliveries never replayed (kept 30 days by the caller), stale cache entries."""
        with self.db.atomic():
            counts = {
                "seen": self.db.execute(
                    "DELETE FROM seen WHERE seen_at < ?", [seen_before]
                ).rowcount,
                "sent": self.db.execute(
                    "DELETE FROM outbox WHERE status = 'sent' AND updated_at < ?", [sent_before]
                ).rowcount,
                "dead": self.db.execute(
                    "DELETE FROM outbox WHERE status = 'dead' AND updated_at < ?", [dead_before]
                ).rowcount,
                "cache": self.db.execute(
                    "DELETE FROM state WHERE scope = 'lookups' AND updated_at < ?", [dead_before]
                ).rowcount,
            }
        return counts

    # -- source status ----------------------------------------------------------------------

    def source_polled(self, source: str, *, ok: bool, error: str | None, now: float) -> None:
        """Record a poll: `ok` when the source was read (last_success moves on);
        `error` is the latest poll's error, or None. A partial failure is both."""
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO source_status(source, last_success, last_error, last_attempt) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(source) DO UPDATE SET "
                "last_success = COALESCE(excluded.last_success, last_success), "
                "last_error = excluded.last_error, last_attempt = excluded.last_attempt",
                [source, iso(now) if ok else None, error, iso(now)],
            )

    def source_statuses(self) -> dict[str, dict[str, Any]]:
        return {
            row["source"]: {"last_success": row["last_success"], "last_error": row["last_error"]}
            for row in self.db.query("SELECT * FROM source_status ORDER BY source")
        }

    # -- small key/value state for sources (cursors, look-up caches) ------------------------

    def get_state(self, scope: str, key: str) -> Any:
        row = self.db.execute(
            "SELECT value FROM state WHERE scope = ? AND key = ?", [scope, key]
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def put_state(self, scope: str, items: dict[str, Any], now: float | None = None) -> None:
        with self.db.atomic():
            self._put_state(scope, items, time.time() if now is None else now)

    def _put_state(self, scope: str, items: dict[str, Any], now: float) -> None:
        self.db.conn.executemany(
            "INSERT INTO state(scope, key, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(scope, key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [(scope, k, json.dumps(v, default=str), now) for k, v in items.items()],
        )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
