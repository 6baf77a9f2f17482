"""Channel faults through the outbox (contract section 7, "Retries" and "Isolation"):
real channels against the loopback stand-ins, driven by the real delivery loop and
state store, with an injected clock so waiting for a retry costs no time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from notifier.channels import CHANNEL_TYPES
from notifier.channels.base import Channel, SendContext
from notifier.channels.slack import SlackPacer
from notifier.cli import main
from notifier.delivery.deliverer import Deliverer, PassResult, RetryPolicy
from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver
from notifier.settings import Settings
from notifier.state import NewDelivery, SqliteStore
from tests.waiting import ManualClock, wait_until

EVENT = "attempt.completed"
T0 = 1_000_000.0


def settings(**env: Any) -> Settings:
    base: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-channel-faults",
        "SMTP_SECURITY": "none",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_FROM": "notifier@school.example",
    }
    return Settings(_env_file=None, **(base | env))  # type: ignore[call-arg]


def alert(key: str) -> dict[str, Any]:
    data = {"id": int(key), "student": f"Student {key}", "exam_title": "Algebra", "result": "Fail"}
    return {"event": EVENT, "key": key, "data": data, "reasons": []}


@dataclass
class Rig:
    """A state store, channels by name and a deliverer whose clock the test moves."""

    tmp: Path
    st: Settings
    pacer: SlackPacer
    now: float = T0
    channels: dict[str, Channel] = field(default_factory=dict)
    concurrency: int = 4
    real_clock: bool = False

    def __post_init__(self) -> None:
        self.store = SqliteStore(self.tmp / "notifier.db")

    def add(self, name: str, kind: str, config: dict[str, Any], timeout: float = 2.0) -> None:
        channel_type = CHANNEL_TYPES[kind]
        model = channel_type.config.model_validate({"type": kind, **config})
        extra = {"slack_pacer": self.pacer, "send_timeout": timeout}
        self.channels[name] = channel_type.build(
            name, model, SendContext(settings=self.st, extra=extra)
        )

    def queue(self, channel: str, *keys: str) -> list[str]:
        deliveries = [NewDelivery("failed-exam", channel, EVENT, k, [alert(k)]) for k in keys]
        self.store.seen.record("attempts", keys, deliveries, now=self.now)
        return [d.id for d in deliveries]

    def deliver(self, at: float | None = None, *, in_thread: bool = False) -> PassResult:
        """One delivery pass (`in_thread`: from a thread other than the rig's)."""
        if at is not None:
            self.now = at
        store = self.store.for_thread() if in_thread else self.store
        deliverer = Deliverer(
            store,
            self.channels,
            concurrency=self.concurrency,
            policy=RetryPolicy(initial_seconds=5, max_hours=24, jitter=lambda: 0.5),
            clock=time.time if self.real_clock else lambda: self.now,
        )
        try:
            return deliverer.run_pass()
        finally:
            deliverer.close()
            if in_thread:
                store.close()

    def row(self, id_: str) -> dict[str, Any]:
        [row] = [r for r in self.store.outbox.deliveries() if r["id"] == id_]
        return row

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
        self.store.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, settings(), SlackPacer(interval=0.0))
    yield r
    r.close()


# --- Slack -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "wait"),
    [
        ((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}), 30),
        ((200, {"ok": False, "error": "ratelimited"}, {"Retry-After": "20"}), 20),
        ((503, "<html>upstream unavailable</html>"), 5),
        ((500, {"ok": False, "error": "internal_error"}), 5),
    ],
    ids=["429", "ratelimited", "503", "500"],
)
def test_slack_rate_limits_and_errors_are_retried_when_slack_says(
    rig: Rig, fake_slack: FakeSlack, answer: tuple[Any, ...], wait: float
) -> None:
    rig.st = settings(SLACK_API_URL=fake_slack.url)
    rig.pacer = SlackPacer(interval=1.0, clock=lambda: rig.now)
    rig.add("teachers", "slack", {"channel": "#exam-alerts"})
    [id_] = rig.queue("teachers", "101")
    fake_slack.script([answer])

    assert rig.deliver().retrying == 1
    row = rig.row(id_)
    assert row["status"] == "retrying" and row["next_at"] >= T0 + wait
    assert rig.deliver(at=row["next_at"] - 0.5).sent == 0  # not before Slack's time
    assert len(fake_slack.received) == 1

    assert rig.deliver(at=row["next_at"]).sent == 1
    assert rig.row(id_)["status"] == "sent"
    assert len(fake_slack.received) == 2


def test_slack_is_paced_per_slack_channel_without_slowing_other_channels(
    tmp_path: Path, fake_slack: FakeSlack, webhook_receiver: WebhookReceiver
) -> None:
    pace = ManualClock()  # the pacer waits on it: the test decides when a second passes
    pacer = SlackPacer(interval=1.0, clock=pace, sleep=pace.sleep)
    rig = Rig(tmp_path, settings(SLACK_API_URL=fake_slack.url), pacer)

    def posts(channel: str) -> int:
        return sum(p.channel == channel for p in fake_slack.received)

    try:
        rig.add("teachers", "slack", {"channel": "#a"})
        rig.add("heads", "slack", {"channel": "#b"})
        rig.add("lms", "webhook", {"url": webhook_receiver.url})
        rig.queue("teachers", "1", "2", "3")
        rig.queue("heads", "4")
        rig.queue("lms", "5", "6", "7", "8")
        with ThreadPoolExecutor(1) as pool:
            passing = pool.submit(rig.deliver, in_thread=True)
            # #b and the webhook went out while #a's second post waits for its slot.
            wait_until(
                lambda: pace.sleeping == 1 and posts("#b") == 1,
                message="#b posted while the second #a post waits",
            )
            wait_until(lambda: len(webhook_receiver.received) == 4, message="the 4 webhooks")
            assert posts("#a") == 1
            pace.advance(1.0)
            wait_until(
                lambda: posts("#a") == 2 and pace.sleeping == 1,
                message="the second #a post and the third waiting",
            )
            pace.advance(1.0)
            assert passing.result(timeout=60).sent == 8
    finally:
        rig.close()
    assert posts("#a") == 3
    assert pace.slept == [1.0, 1.0]  # one post a second to #a, each a full second after


# --- email -------------------------------------------------------------------------------


def test_smtp_down_then_back_is_delivered_once(rig: Rig, smtp_sink: SmtpSink) -> None:
    rig.st = settings(SMTP_PORT=str(smtp_sink.port))
    rig.add("office", "email", {"to": ["office@school.example"]})
    [id_] = rig.queue("office", "201")
    smtp_sink.stop()
    assert rig.deliver().retrying == 1
    assert "SMTP connection failed" in rig.row(id_)["last_error"]
    smtp_sink.start()  # back, on the same port
    assert rig.deliver(at=rig.row(id_)["next_at"]).sent == 1
    assert rig.deliver(at=T0 + 86400).sent == 0
    [mail] = smtp_sink.received
    assert mail.message["Subject"].startswith("[failed-exam]")


# --- webhooks ----------------------------------------------------------------------------


def test_webhook_500_then_accepted_sends_the_same_delivery_id(
    rig: Rig, webhook_receiver: WebhookReceiver
) -> None:
    rig.add("lms", "webhook", {"url": webhook_receiver.url})
    [id_] = rig.queue("lms", "301")
    webhook_receiver.script([500, (503, "busy", {"Retry-After": "60"})])
    assert rig.deliver().retrying == 1
    assert rig.deliver(at=rig.row(id_)["next_at"]).retrying == 1
    assert rig.row(id_)["next_at"] >= rig.now + 60  # Retry-After honoured
    assert rig.deliver(at=rig.row(id_)["next_at"]).sent == 1
    statuses = [r.status for r in webhook_receiver.received]
    assert statuses == [500, 503, 204]
    assert {r.json["id"] for r in webhook_receiver.received} == {id_}


@pytest.mark.parametrize("status", [400, 404, 410])
def test_webhook_rejection_is_dead_at_once_and_replay_sends_it_again(
    rig: Rig,
    webhook_receiver: WebhookReceiver,
    status: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rig.add("lms", "webhook", {"url": webhook_receiver.url})
    [id_, other] = rig.queue("lms", "401", "402")
    webhook_receiver.script([status, status])
    assert rig.deliver().dead == 2
    for later in (T0 + 60, T0 + 3600, T0 + 86400):  # never tried again by itself
        assert rig.deliver(at=later) == PassResult()
    assert len(webhook_receiver.received) == 2
    assert rig.store.outbox.delivery_counts()["dead"] == 2

    monkeypatch.setenv("NOTIFIER_DB", str(rig.store.path))
    monkeypatch.chdir(rig.tmp)
    assert main(["replay", id_]) == 0  # the real command, one id
    assert "1 dead deliveries queued again" in capsys.readouterr().out
    assert rig.deliver(at=time.time()).sent == 1
    assert rig.row(id_)["status"] == "sent" and rig.row(other)["status"] == "dead"
    assert [r.status for r in webhook_receiver.received] == [status, status, 204]


def test_a_hanging_webhook_does_not_delay_slack_or_email_in_the_same_pass(
    tmp_path: Path, fake_slack: FakeSlack, smtp_sink: SmtpSink, webhook_receiver: WebhookReceiver
) -> None:
    st = settings(SLACK_API_URL=fake_slack.url, SMTP_PORT=str(smtp_sink.port))
    rig = Rig(tmp_path, st, SlackPacer(interval=0.0), concurrency=1, real_clock=True)

    def statuses() -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in rig.store.outbox.deliveries()}

    try:
        rig.add("lms", "webhook", {"url": webhook_receiver.url}, timeout=5.0)
        rig.add("teachers", "slack", {"channel": "#exam-alerts"})
        rig.add("office", "email", {"to": ["office@school.example"]})
        webhook_receiver.script(["hang"])
        rig.now = time.time()
        hook = rig.queue("lms", "501")
        others = rig.queue("teachers", "502", "503") + rig.queue("office", "504", "505")
        with ThreadPoolExecutor(1) as pool:
            passing = pool.submit(rig.deliver, in_thread=True)
            # Every Slack and email send is recorded while the webhook still hangs (5 s).
            during = wait_until(
                lambda: (
                    (rows := statuses())
                    and all(rows[i]["status"] == "sent" for i in others)
                    and rows
                ),
                message="the Slack and email sends",
            )
            passing.result(timeout=60)
        rows = statuses()
    finally:
        rig.close()
    assert during[hook[0]]["status"] == "queued" and during[hook[0]]["last_error"] is None
    assert len(webhook_receiver.received) == 1  # it was in flight, hanging
    assert rows[hook[0]]["status"] == "retrying" and "timeout" in rows[hook[0]]["last_error"]
    assert all(rows[i]["status"] == "sent" for i in others)
    given_up = rows[hook[0]]["updated_at"]
    assert all(rows[i]["updated_at"] < given_up for i in others)
    assert len(fake_slack.received) == 2 and len(smtp_sink.received) == 2
