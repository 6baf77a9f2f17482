"""A smaller store (issue 22): outbox rows keep their alerts packed (compact JSON,
zlib), a store of schema 11 is migrated in place with its rows sending exactly as
before, and pruning gives the file's pages back, so it does not grow past what it
keeps."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from notifier.channels.base import ConsoleLine, MailMessage, SlackMessage, WebhookMessage
from notifier.channels.webhook import encode_body
from notifier.delivery.render import render_message
from notifier.delivery.stages import to_notification
from notifier.events import Kept
from notifier.runtime.upkeep import prune_if_due
from notifier.state import SqliteStore
from notifier.state.base import NewDelivery, outbox_row
from notifier.state.migrations import _MIGRATIONS, SCHEMA_VERSION
from notifier.state.people import AlertFilter
from notifier.state.sqlite_history import _pack

NOW = 1_800_000_000.0
KINDS = (SlackMessage, MailMessage, WebhookMessage, ConsoleLine)


def _attempt(n: int) -> dict[str, Any]:
    """An exam attempt's fields as an alert carries them: every field, nested stats,
    text a store must keep exactly (accents, quotes, a tag, an emoji)."""
    return {
        "id": n,
        "user_id": 7,
        "email": "Asha.Verma@Example.org",
        "student": 'Asha "Ash" Vérma <b>',
        "exam_title": "Algebra Mock 3 \N{SMILING FACE WITH SMILING EYES}",
        "exam_id": 2,
        "percentage": 31.5,
        "percentile": 9.0,
        "result": "Fail",
        "time_taken": 10073.08,
        "date": "2026-11-25T10:00:00+05:30",
        "sections": [{"name": f"Section {i}", "score": i * 1.5} for i in range(6)],
        "subject_stats": [{"subject": f"S{i}", "correct": i, "incorrect": 9 - i} for i in range(9)],
        "remaining_time": None,
    }


def _alerts(n: int) -> list[dict[str, Any]]:
    reasons = [{"field": "result", "op": "eq", "expected": "Fail", "actual": "Fail"}]
    return [{"event": "attempt.completed", "key": str(n), "data": _attempt(n), "reasons": reasons}]


def _store_at_schema_11(path: Path) -> None:
    """A store as the notifier before schema 13 left it: an outbox row with its alerts
    as JSON text (as that version's `record` wrote them) and a history row."""
    conn = sqlite3.connect(path)
    for version, script in _MIGRATIONS:
        if version <= 11:
            conn.executescript(script + ";")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '11')")
    conn.execute(
        "INSERT INTO outbox (id, rule, channel, event, event_key, alerts, status, attempts, "
        "next_at, created_at, updated_at, group_key) VALUES ('msg_1', 'failed-exam', 'lms', "
        "'attempt.completed', '41', ?, 'queued', 0, ?, ?, ?, NULL)",
        [json.dumps(_alerts(41), default=str), NOW, NOW, NOW],
    )
    kept = Kept("attempt.completed", "41", NOW, "7", "Algebra Mock 3", {"result": "Fail"}, ())
    conn.execute(
        "INSERT INTO history (kind, subject, at, key, data) VALUES (?, ?, ?, ?, ?)",
        [kept.kind, kept.subject, kept.at, kept.key, _pack(kept)],
    )
    conn.commit()
    conn.close()


def _sent(row: Any) -> dict[str, Any]:
    """What each channel would send for the row: the rendered message of every kind,
    and the exact body bytes a webhook posts (and signs)."""
    n = to_notification(row)
    out: dict[str, Any] = {kind.__name__: render_message(kind, n) for kind in KINDS}
    webhook = out["WebhookMessage"]
    out["webhook bytes"] = encode_body({**webhook.body, "sent_at": "2026-11-25T10:00:00Z"})
    return out


def test_a_store_of_schema_11_is_packed_in_place_and_its_rows_send_exactly_as_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _store_at_schema_11(path)
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        old_row = dict(conn.execute("SELECT * FROM outbox").fetchone())
    before = _sent(outbox_row(old_row))

    store = SqliteStore(path)
    try:
        assert store.meta.get_meta("schema_version") == str(SCHEMA_VERSION)
        raw = store.db.execute("SELECT typeof(alerts), length(alerts) FROM outbox").fetchone()
        assert raw[0] == "blob" and raw[1] < len(old_row["alerts"]) / 2
        assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # vacuumed once
        (row,) = store.outbox.claim_due(NOW, lease_seconds=60)
        assert row.alerts == _alerts(41)
        assert _sent(row) == before
        body = json.loads(before["webhook bytes"])
        assert body["alerts"][0]["data"] == _attempt(41)  # every field, as received
        # The console still finds the student's alerts, by id and by email in any case.
        for student in ("7", "asha.verma@example.ORG"):
            (shown,) = store.console.alerts(AlertFilter(student=student), limit=10, offset=0)
            assert json.loads(shown["alerts"]) == _alerts(41)
        (logged,) = store.log.delivery_list()
        assert json.loads(logged["alerts"]) == _alerts(41)
        (kept,) = store.history.history("attempt.completed", ["7"], 0.0)
        assert (kept.title, kept.fields["result"], kept.fields["user_id"]) == (
            "Algebra Mock 3",
            "Fail",
            7,
        )
    finally:
        store.close()


def _file_bytes(store: SqliteStore) -> int:
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in store.path.parent.glob(f"{store.path.name}*"))


def _fill(store: SqliteStore, keys: range, now: float) -> None:
    deliveries = [NewDelivery("r", "lms", "attempt.completed", str(k), _alerts(k)) for k in keys]
    store.seen.record("attempts", [str(k) for k in keys], deliveries, now=now)
    rows = store.outbox.claim_due(now, lease_seconds=60, limit_per_channel=len(keys))
    store.outbox.mark_sent([r.id for r in rows], now)


def test_pruning_gives_the_pages_back_and_the_file_does_not_grow(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "notifier.db")
    try:
        empty = _file_bytes(store)
        _fill(store, range(1000, 3000), NOW)
        full = _file_bytes(store)
        assert full > empty + 500_000  # 2,000 sent deliveries and their seen marks
        later = NOW + 30 * 86400.0  # past the lookback window: all of it can go
        prune_if_due(store, lookback_hours=24, rules=[], now=later)
        assert store.outbox.delivery_counts()["sent"] == 0
        pruned = _file_bytes(store)
        assert pruned < empty + (full - empty) / 10
        _fill(store, range(3000, 5000), later)  # as much again, in the pages given back
        assert _file_bytes(store) <= full * 1.01  # (packed sizes differ by a few bytes)
    finally:
        store.close()


def test_the_console_finds_a_students_alerts_and_timeline_on_either_backend(store: Any) -> None:
    """The student's columns (the first alert's user id and email) and the timeline
    read through history's primary key, newest first, across the kinds kept."""
    kept = [
        Kept("attempt.completed", "41", NOW, "7", "Algebra Mock 3", {"result": "Fail"}, ()),
        Kept("content_attempt.completed", "c9", NOW + 60, "7", "Video 2", {}, ()),
        Kept("attempt.completed", "42", NOW + 120, "8", "Algebra Mock 3", {}, ()),
        Kept("conference.attendance", "5:asha", NOW + 30, "7", "Live class", {}, ()),
    ]
    deliveries = [NewDelivery("failed-exam", "lms", "attempt.completed", "41", _alerts(41))]
    store.seen.record("attempts", ["41"], deliveries, now=NOW, history=kept)
    for student in ("7", "ASHA.VERMA@example.org"):
        (row,) = store.console.alerts(AlertFilter(student=student), limit=10, offset=0)
        assert json.loads(row["alerts"]) == _alerts(41)
    assert store.console.alerts(AlertFilter(student="8"), limit=10, offset=0) == []
    timeline = store.console.timeline("7", 10)
    assert [(t["kind"], t["key"]) for t in timeline] == [
        ("content_attempt.completed", "c9"),
        ("conference.attendance", "5:asha"),
        ("attempt.completed", "41"),
    ]
    assert [t["key"] for t in store.console.timeline("7", 2)] == ["c9", "5:asha"]
    assert store.console.timeline("9", 10) == []


def test_only_grouped_rows_are_in_the_group_index_and_group_questions_still_use_it(
    tmp_path: Path,
) -> None:
    """Schema 14: rows without a group (most) have no entry in `outbox_group`, so
    queueing and recording them writes less; a group's questions can still use it."""
    store = SqliteStore(tmp_path / "notifier.db")
    try:
        alone = NewDelivery("r", "lms", "attempt.completed", "1", _alerts(1))
        grouped = NewDelivery("r", "lms", "attempt.completed", "2", _alerts(2), group="g")
        store.seen.record("attempts", ["1", "2"], [alone, grouped], now=NOW)
        conn = store.db.conn
        indexed = conn.execute("SELECT COUNT(*) FROM outbox INDEXED BY outbox_group "
                               "WHERE group_key IS NOT NULL").fetchone()[0]  # fmt: skip
        assert indexed == 1
        at = conn.execute(  # a group's question can be answered from it alone
            "SELECT MIN(next_at) FROM outbox INDEXED BY outbox_group WHERE rule = ? AND "
            "channel = ? AND group_key = ? AND status = 'queued' AND attempts = 0",
            ["r", "lms", "g"],
        ).fetchone()[0]
        assert at == store.outbox.pending_group("r", "lms", "g")
        assert store.outbox.pending_group("r", "lms", "g") is not None
    finally:
        store.close()
