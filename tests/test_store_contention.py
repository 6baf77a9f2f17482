"""Stores under contention (contract section 7): pushes recorded by the inbox writer's
thread while a poll and delivery pass run flat out on the same store never see
"database is locked" and never make a pass fail. On SQLite a transaction that reads
before it writes (claiming due rows, marking inbox rows done) must take the write lock
when it begins (`BEGIN IMMEDIATE`): begun DEFERRED, its read snapshot goes stale as soon
as the other connection commits, and SQLite refuses the upgrade at once, without
waiting out the busy timeout."""

from __future__ import annotations

import threading
import time

from notifier.state import NewDelivery, Store

PASSES = 600
PUSHES = 600  # the writer keeps writing until the passes are done, at least this many


def _delivery(n: int) -> NewDelivery:
    return NewDelivery("r", "ops", "attempt.completed", str(n), [{"key": str(n)}])


def test_pushes_during_fast_passes_never_see_a_locked_database(store: Store) -> None:
    writer = store.for_thread()
    errors: list[BaseException] = []
    done = threading.Event()
    pushed = 0

    started = threading.Event()

    def push() -> None:
        nonlocal pushed
        started.set()
        try:
            while not done.is_set() or pushed < PUSHES:
                writer.inbox.inbox_add([("exam", f'{{"n": {pushed}}}')], time.time())
                pushed += 1
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    thread = threading.Thread(target=push)
    thread.start()
    started.wait()
    passes = 0
    try:
        for n in range(PASSES):
            now = time.time()
            try:
                rows = store.outbox.claim_due(now + 1, 60)  # the delivery pass
                store.outbox.mark_sent([row.id for row in rows], now)
                pending = store.inbox.inbox_pending(now + 1)  # the pushes
                store.inbox.inbox_done([row.id for row in pending], now)
                store.seen.record("attempts", [f"k{n}"], [_delivery(n)], state={"n": n}, now=now)
                store.sources.source_polled("attempts", ok=True, error=None, now=now)
            except Exception as exc:  # noqa: BLE001 - counted: a pass that failed is skipped
                errors.append(exc)
                continue
            passes += 1
    finally:
        done.set()
        thread.join()
        writer.close()
    assert [str(e) for e in errors] == []
    assert passes == PASSES
    rows = store.outbox.claim_due(time.time() + 1, 60)  # the last pass's delivery
    store.outbox.mark_sent([row.id for row in rows], time.time())
    assert store.outbox.delivery_counts()["sent"] == PASSES
    now = time.time() + 1
    store.inbox.inbox_done([row.id for row in store.inbox.inbox_pending(now, limit=10**6)], now)
    assert store.inbox.inbox_pending(now) == [] and pushed >= PUSHES
