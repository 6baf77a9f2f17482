"""The delivery pass: a slow channel's backlog waits for the next pass instead of
holding up the next poll, and fast channels are not held back by it."""

from __future__ import annotations

from datetime import timedelta

from notifier.actions.mutes import StoreMutes
from notifier.actions.service import Actions
from notifier.channels.base import Notification, Outcome
from notifier.delivery.deliverer import Deliverer, RetryPolicy
from notifier.state import NewDelivery, Store, open_store
from tests.kit import RecordingChannel
from tests.waiting import ManualClock, wait_until


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
    store.seen.record("attempts", [], deliveries)
    # The pass's budget runs on a clock only the slow sends move (0.2 s each), and the
    # first slow send is answered only once the fast channel has sent everything: the
    # fast channel must not wait behind the slow one, however loaded the machine.
    timer = ManualClock()
    fast = RecordingChannel("fast")

    def slow_send(notification: Notification) -> Outcome:
        wait_until(lambda: len(fast.sent) == 20, message="the fast channel's 20 sends")
        timer.advance(0.2)
        return Outcome.sent()

    slow = RecordingChannel("slow", outcome=slow_send)
    deliverer = Deliverer(
        store, {"slow": slow, "fast": fast}, concurrency=1, policy=RetryPolicy(), timer=timer
    )
    result = deliverer.run_pass(budget=0.5)
    assert len(fast.sent) == 20  # every fast delivery went out
    assert 1 <= len(slow.sent) < 20  # the slow backlog was cut off at the budget
    assert len(slow.sent) == 3  # sends started at 0, 0.2 and 0.4 s of the 0.5 s budget
    assert result.released == 20 - len(slow.sent)
    counts = store.outbox.delivery_counts()
    assert counts["queued"] == 20 - len(slow.sent)  # kept for the next pass, unclaimed
    deliverer.run_pass()  # no budget: everything due
    assert len(slow.sent) == 20 and store.outbox.delivery_counts()["queued"] == 0
    deliverer.close()


def test_a_mute_made_while_a_message_is_sent_holds_the_next_ones_of_the_same_pass(
    store: Store, db: str
) -> None:
    """An admin mutes a student (through another handle: another process or replica)
    while the first of the student's three alerts is on its way: the two after it, in
    the same pass and the same claimed batch, are held as muted, not sent."""
    data = {"user_id": 7, "email": "s7@school.example", "student": "S 7"}
    store.seen.record(
        "attempts",
        [],
        [
            NewDelivery(
                "r", "hook", "attempt.completed", str(i),
                [{"event": "attempt.completed", "key": str(i), "data": data, "reasons": []}],
                not_before=1000.0 + i,  # sent in this order
            )
            for i in range(3)
        ],
    )  # fmt: skip
    admin = open_store(db)
    actions = Actions(admin)  # the sending thread gets a handle of its own on it

    def mute_on_first_send(notification: Notification) -> Outcome:
        if len(hook.sent) == 1:
            actions.mute(
                student="7", rule=None, channel=None, duration=timedelta(days=1),
                by="admin", reason="on leave", source="cli",
            )  # fmt: skip
        return Outcome.sent()

    hook = RecordingChannel("hook", outcome=mute_on_first_send)
    deliverer = Deliverer(
        store, {"hook": hook}, mutes=StoreMutes(), concurrency=1, policy=RetryPolicy()
    )
    try:
        result = deliverer.run_pass()
        assert [n.alerts[0].key for n in hook.sent] == ["0"]
        assert (result.sent, result.muted) == (1, 2)
        assert store.outbox.delivery_counts()["muted"] == 2
    finally:
        deliverer.close()
        actions.close()
        admin.close()
