"""Bounded state (issue 4, part 6): a year of simulated activity, driven through the
real store and the real pruning (`notifier.runtime.upkeep.prune_if_due`) with an
injected clock, leaves the state store small; what a poll can still reach is never
forgotten; dead deliveries are kept 30 days."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

from notifier.runtime.upkeep import prune_if_due
from notifier.state import NewDelivery, SqliteStore

DAY = 86400.0
CYCLE = 6 * 3600.0  # one simulated poll every six hours ...
PER_CYCLE = 50  # ... each finding 50 completed attempts: 200 a day, 73,000 a year
CHANNELS = ("teachers", "lms")
LIMIT_BYTES = 8 * 1024 * 1024  # the stated bound: under 8 MiB (file + WAL) after a year
START = 1_767_225_600.0  # 2026-01-01


def _size(db: Path) -> int:
    return sum(os.path.getsize(f"{db}{s}") for s in ("", "-wal") if os.path.exists(f"{db}{s}"))


def _alert(key: str) -> list[dict[str, object]]:
    data = {
        "id": int(key),
        "student": f"Student number {key}",
        "email": f"student{key}@school.example",
        "exam_title": "Algebra Mock Test, Term 2",
        "score": 12.5,
        "percentile": 18.0,
        "result": "Fail",
        "sections": [{"name": "Algebra", "score": 4.0}, {"name": "Geometry", "score": 8.5}],
    }
    return [{"event": "attempt.completed", "key": key, "data": data, "reasons": []}]


def test_a_year_of_activity_leaves_the_store_small_and_forgets_nothing_reachable(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "notifier.db")
    clock = [START]
    service = SimpleNamespace(  # the settings and clock the run loop prunes with
        store=store,
        clock=lambda: clock[0],
        settings=SimpleNamespace(lookback_hours=24.0),
        ruleset=SimpleNamespace(rules=[]),
    )
    sizes: dict[int, int] = {}
    dead_at: dict[str, float] = {}
    key = 100_000
    cycles = int(365 * DAY / CYCLE)
    for cycle in range(cycles):
        now = clock[0] = START + cycle * CYCLE
        keys = [str(key + i) for i in range(PER_CYCLE)]
        key += PER_CYCLE
        deliveries = [
            NewDelivery("failed-exam", ch, "attempt.completed", k, _alert(k))
            for k in keys
            for ch in CHANNELS
        ]
        store.seen.record(
            "attempts", keys, deliveries, state={"cursor": {"last_poll": now}}, now=now
        )
        store.sources.put_state("lookups", {f"user:{keys[0]}": {"name": "x"}}, now=now)
        rows = store.outbox.claim_due(now, lease_seconds=300)
        dead = [row.id for row in rows if int(row.event_key) % 97 == 0]  # ~1% die
        for id_ in dead:
            store.outbox.mark_failed(id_, now=now, next_at=None, error="HTTP 410")
            dead_at[id_] = now
        store.outbox.mark_sent([row.id for row in rows if row.id not in dead], now)
        store.sources.source_polled("attempts", ok=True, error=None, now=now)
        prune_if_due(store, service.settings.lookback_hours, [], service.clock())
        if cycle % (30 * 4) == 0:
            sizes[cycle // 4] = _size(store.path)

    counts = store.outbox.delivery_counts()
    seen = store.db.execute("SELECT COUNT(*) FROM seen").fetchone()[0]
    final = _size(store.path)
    print(
        f"\nafter {cycles} polls, {key - 100_000} attempts, {2 * (key - 100_000)} deliveries: "
        f"{final / 1024:.0f} KiB on disk, {os.path.getsize(store.path) / 1024:.0f} KiB without "
        f"the WAL (by day: "
        f"{ {day: f'{size // 1024} KiB' for day, size in sizes.items()} }); "
        f"{seen} seen keys, deliveries {counts}"
    )
    assert final < LIMIT_BYTES
    assert max(sizes.values()) < LIMIT_BYTES  # bounded all year, not only at the end
    assert final < 1.1 * sizes[60]  # flat after the first two months: no slow growth
    # Only what a poll can still reach is kept: lookback (1 day) + 1 day + 2 spare.
    assert seen <= (4 + 1) * 4 * PER_CYCLE
    assert counts["sent"] <= (4 + 1) * 4 * PER_CYCLE * len(CHANNELS)
    assert counts["queued"] == counts["retrying"] == 0

    # Everything seen in the last four days is still known (no repeat alerts) ...
    recent = [str(k) for k in range(key - 4 * 4 * PER_CYCLE, key)]
    assert store.seen.unseen("attempts", recent) == set()
    # ... and dead deliveries stay 30 days, then go.
    now = clock[0]
    kept = {r["id"] for r in store.outbox.deliveries("dead")}
    assert {i for i, at in dead_at.items() if now - at < 29 * DAY} <= kept
    assert not {i for i, at in dead_at.items() if now - at > 31 * DAY} & kept
    store.close()


def test_pruning_keeps_a_dead_delivery_until_replayed_within_30_days(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "notifier.db")
    clock = [START]
    service = SimpleNamespace(
        store=store,
        clock=lambda: clock[0],
        settings=SimpleNamespace(lookback_hours=24.0),
        ruleset=SimpleNamespace(rules=[]),
    )
    delivery = NewDelivery("r", "lms", "attempt.completed", "1", _alert("1"))
    store.seen.record("attempts", ["1"], [delivery], now=START)
    store.outbox.claim_due(START, 300)
    store.outbox.mark_failed(delivery.id, now=START, next_at=None, error="HTTP 404")
    clock[0] = START + 20 * DAY
    prune_if_due(store, service.settings.lookback_hours, [], service.clock())
    assert store.outbox.delivery_counts()["dead"] == 1
    assert store.outbox.replay([delivery.id], clock[0]) == 1
    assert store.outbox.delivery_counts()["queued"] == 1
    store.close()
