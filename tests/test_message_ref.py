"""A sent row keeps the receiver's id for its message (issue 18 part 1): Slack's channel
and `ts` from `chat.postMessage`'s answer, the Message-ID of the email the SMTP server
received, a webhook's id; so a later action can update the message. Through the real
delivery chain, real protocol servers on loopback, and both store backends."""

from __future__ import annotations

import json
from typing import Any

from notifier.channels.base import Channel
from notifier.channels.slack import SlackPacer
from notifier.delivery.deliverer import Deliverer, RetryPolicy
from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver
from notifier.settings import Settings
from notifier.state import NewDelivery, Store
from tests.rendering import build_channel

ALERT = {
    "event": "attempt.completed",
    "key": "68701",
    "data": {"id": 68701, "exam_title": "Algebra", "student": "Asha Verma", "result": "Fail"},
    "reasons": [],
}


def _channel(kind: str, config: dict[str, Any], st: Settings) -> Channel[Any]:
    pacer = SlackPacer(interval=0.0)
    return build_channel(kind, config, st, kind, slack_pacer=pacer, send_timeout=5)


def _deliver(store: Store, channel: Channel[Any]) -> str:
    """Queue one row for `channel`, run a pass, and give the row's id once it is sent."""
    row = NewDelivery("failed-exam", channel.name, "attempt.completed", "68701", [ALERT])
    store.seen.record("attempts", ["68701"], [row], now=100.0)
    deliverer = Deliverer(
        store, {channel.name: channel}, concurrency=1, policy=RetryPolicy(), clock=lambda: 101.0
    )
    try:
        assert deliverer.run_pass().sent == 1
    finally:
        deliverer.close()
        channel.close()
    return row.id


def test_a_slack_post_keeps_its_channel_and_ts(store: Store, fake_slack: FakeSlack) -> None:
    fake_slack.script([(200, {"ok": True, "channel": "C0EXAM", "ts": "1764061200.000100"})])
    st = Settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-t", SLACK_API_URL=fake_slack.url)  # type: ignore[call-arg]
    id_ = _deliver(store, _channel("slack", {"channel": "#exam-alerts"}, st))
    ref = store.outbox.message_ref(id_)
    assert ref is not None
    assert json.loads(ref) == {"kind": "slack", "id": "1764061200.000100", "channel": "C0EXAM"}


def test_an_email_keeps_the_message_id_the_server_received(
    store: Store, smtp_sink: SmtpSink
) -> None:
    st = Settings(  # type: ignore[call-arg]
        _env_file=None,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_sink.port,
        SMTP_FROM="alerts@school.example",
        SMTP_SECURITY="none",
    )
    id_ = _deliver(store, _channel("email", {"to": ["office@school.example"]}, st))
    [mail] = smtp_sink.received
    ref = store.outbox.message_ref(id_)
    assert ref is not None and mail.message["Message-ID"]
    assert json.loads(ref) == {"kind": "email", "id": mail.message["Message-ID"]}


def test_a_signed_webhook_keeps_the_webhook_id_it_sent(
    store: Store, webhook_receiver: WebhookReceiver
) -> None:
    st = Settings(_env_file=None)  # type: ignore[call-arg]
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    id_ = _deliver(store, _channel("webhook", {"url": webhook_receiver.url, "secret": secret}, st))
    [hook] = webhook_receiver.received
    ref = store.outbox.message_ref(id_)
    assert ref is not None
    assert (
        json.loads(ref)
        == {"kind": "webhook", "id": hook.headers["webhook-id"]}
        == {
            "kind": "webhook",
            "id": id_,
        }
    )


def test_a_row_not_sent_has_no_ref(store: Store) -> None:
    row = NewDelivery("failed-exam", "gone", "attempt.completed", "1", [ALERT])
    store.seen.record("attempts", ["1"], [row], now=100.0)
    deliverer = Deliverer(store, {}, concurrency=1, policy=RetryPolicy(), clock=lambda: 101.0)
    try:
        assert deliverer.run_pass().dead == 1  # no such channel: final
    finally:
        deliverer.close()
    assert store.outbox.message_ref(row.id) is None
