"""The delivery pass: a slow channel's backlog waits for the next pass instead of
holding up the next poll, and fast channels are not held back by it."""

from __future__ import annotations

from notifier.delivery.deliverer import Deliverer, RetryPolicy
from notifier.state import NewDelivery, Store
from tests.kit import RecordingChannel


def test_a_budgeted_pass_leaves_a_slow_backlog_queued_and_sends_the_fast_channel(
    store: Store,
) -> None:
    deliveries = [
        NewDelivery(
            "r",
            channel,
            "attempt.completed",
            str(i),
            [{"event": "attempt.completed", "key": str(i), "data": {"id": i}, "reasons": []}],
        )
        for channel in ("slow", "fast")
        for i in range(20)
    ]
    store.record("attempts", [], deliveries)
    slow, fast = RecordingChannel("slow", delay=0.2), RecordingChannel("fast")
    deliverer = Deliverer(store, {"slow": slow, "fast": fast}, concurrency=1, policy=RetryPolicy())
    result = deliverer.run_pass(budget=0.5)
    assert len(fast.sent) == 20  # every fast delivery went out
    assert 1 <= len(slow.sent) < 20  # the slow backlog was cut off at the budget
    assert result.released == 20 - len(slow.sent)
    counts = store.delivery_counts()
    assert counts["queued"] == 20 - len(slow.sent)  # kept for the next pass, unclaimed
    deliverer.run_pass()  # no budget: everything due
    assert len(slow.sent) == 20 and store.delivery_counts()["queued"] == 0
    deliverer.close()
