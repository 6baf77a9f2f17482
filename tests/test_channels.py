"""The four channels against real protocol servers on loopback: what arrives, and what a
failure tells the outbox (retry, when, or give up). No secret ever shows in a reason."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from notifier.channels.base import Alert, Notification, Outcome, Reason, WebhookMessage
from notifier.channels.slack import SlackPacer
from notifier.channels.webhook import (
    PerThread,
    WebhookChannel,
    WebhookConfig,
    core_pool,
    direct_transport,
)
from notifier.delivery.render import render_message
from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver, free_port
from notifier.settings import Settings
from tests.rendering import Rendering, build_channel
from tests.waiting import ManualClock, wait_until

TOKEN = "xoxb-test-token-do-not-leak"
SMTP_PASSWORD = "s3cret-smtp-password"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1zYW1l"
SECRETS = (TOKEN, SMTP_PASSWORD, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_"))

ALERT = Alert(
    event="attempt.completed",
    key="68701",
    data={"id": 68701, "exam_id": 133, "exam_title": "Algebra Mock 3", "student": "Asha Verma"},
    reasons=(Reason("result", "eq", "Fail", "Fail"),),
)
NOTE = Notification(id="delivery-42", rule="failed-exam", channel="x", alerts=(ALERT,))


def settings(**env: Any) -> Settings:
    base: dict[str, Any] = {"SLACK_BOT_TOKEN": TOKEN, "SMTP_SECURITY": "none"}
    return Settings(_env_file=None, **(base | env))  # type: ignore[call-arg]


def build(kind: str, config: dict[str, Any], st: Settings, **extra: Any) -> Any:
    """Through the registry, as the delivery loop builds channels."""
    return Rendering(build_channel(kind, config, st, **extra))


def assert_no_secret(outcome: Outcome) -> None:
    for secret in SECRETS:
        assert secret not in outcome.reason


# --- slack ----------------------------------------------------------------------------


@pytest.fixture
def slack(fake_slack: FakeSlack) -> Iterator[Any]:
    channel = build(
        "slack",
        {"channel": "#exam-alerts"},
        settings(SLACK_API_URL=fake_slack.url.rstrip("/")),
        slack_pacer=SlackPacer(),
        send_timeout=0.5,
    )
    yield channel
    channel.close()


def test_slack_post_carries_token_text_and_blocks(fake_slack: FakeSlack, slack: Any) -> None:
    assert slack.send(NOTE) == Outcome.sent()
    [post] = fake_slack.received
    assert post.path == "/api/chat.postMessage"
    assert post.channel == "#exam-alerts"
    assert post.authorization == f"Bearer {TOKEN}"
    assert "Asha Verma" in (post.text or "")
    assert post.blocks and post.blocks[0]["text"]["text"] == "failed-exam"
    assert post.mrkdwn is False  # the fallback text is never formatted by Slack


@pytest.mark.parametrize(
    ("answer", "retry_after", "reason", "short"),
    [
        (
            (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}),
            7.0,
            "ratelimited",
            "ratelimited",
        ),
        ((200, {"ok": False, "error": "ratelimited"}), None, "ratelimited", "ratelimited"),
        ((500, "<html>oops</html>"), None, "HTTP 500", "500"),
        (
            (503, {"ok": False, "error": "service_unavailable"}),
            None,
            "service_unavailable",
            "service_unavailable",
        ),
    ],
)
def test_slack_temporary_failures_are_retried(
    fake_slack: FakeSlack,
    slack: Any,
    answer: tuple[Any, ...],
    retry_after: Any,
    reason: str,
    short: str,
) -> None:
    fake_slack.script([answer])
    outcome = slack.send(NOTE)
    assert outcome.retryable and not outcome.ok
    assert outcome.retry_after == retry_after
    assert reason in outcome.reason
    assert outcome.answer == short  # what the console's alert page shows for the try
    assert_no_secret(outcome)


@pytest.mark.parametrize("error", ["channel_not_found", "invalid_auth", "not_in_channel"])
def test_slack_errors_that_will_not_change_are_final(
    fake_slack: FakeSlack, slack: Any, error: str
) -> None:
    fake_slack.script([(200, {"ok": False, "error": error})])
    outcome = slack.send(NOTE)
    assert outcome == Outcome.final(f"slack: {error}")
    assert_no_secret(outcome)


def test_slack_timeout_and_connection_refused_are_retried(fake_slack: FakeSlack) -> None:
    fake_slack.script(["hang"])
    st = settings(SLACK_API_URL=fake_slack.url)
    hung = build("slack", {"channel": "#a"}, st, slack_pacer=SlackPacer(), send_timeout=0.3)
    outcome = hung.send(NOTE)
    assert outcome.retryable and "timeout" in outcome.reason

    down = settings(SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")
    refused = build("slack", {"channel": "#a"}, down, slack_pacer=SlackPacer()).send(NOTE)
    assert refused.retryable and "connection failed" in refused.reason
    assert_no_secret(refused)


def test_slack_posts_to_one_channel_are_paced_but_others_are_not(fake_slack: FakeSlack) -> None:
    st = settings(SLACK_API_URL=fake_slack.url)
    clock = ManualClock()  # the pacer waits on it: the test, not the machine, moves time
    pacer = SlackPacer(interval=1.0, clock=clock, sleep=clock.sleep)
    first = build("slack", {"channel": "#a"}, st, slack_pacer=pacer)
    # A second rules-file channel naming the same Slack channel shares its pace.
    same = build("slack", {"channel": "#a"}, st, slack_pacer=pacer)
    other = build("slack", {"channel": "#b"}, st, slack_pacer=pacer)

    assert first.send(NOTE).ok
    assert pacer.next_allowed_in(first.pace_key) == 1.0
    assert pacer.next_allowed_in(other.pace_key) == 0.0
    paced = threading.Thread(target=same.send, args=(NOTE,))
    paced.start()
    wait_until(lambda: clock.sleeping == 1, message="the second #a post to wait for its slot")
    assert other.send(NOTE).ok  # while #a waits
    assert [p.channel for p in fake_slack.received] == ["#a", "#b"]
    clock.advance(0.5)
    assert pacer.next_allowed_in(first.pace_key) == 0.5
    clock.advance(0.5)
    paced.join(60)
    assert not paced.is_alive()
    assert clock.slept == [1.0]  # the whole interval after the first post, once
    assert [p.channel for p in fake_slack.received] == ["#a", "#b", "#a"]


def test_slack_pacing_counts_from_the_end_of_a_post_however_long_it_took() -> None:
    clock = ManualClock()
    pacer = SlackPacer(interval=1.0, clock=clock, sleep=clock.sleep)
    with pacer.turn("#a"):
        clock.advance(5.0)  # a slow post: its answer came back 5 s after it started
    assert pacer.next_allowed_in("#a") == 1.0
    pacer.defer("#a", 30.0)  # Slack said Retry-After: 30
    assert pacer.next_allowed_in("#a") == 30.0


def test_slack_incoming_webhook(fake_slack: FakeSlack) -> None:
    channel = build(
        "slack", {"webhook_url": fake_slack.webhook_url}, settings(), slack_pacer=SlackPacer()
    )
    assert channel.send(NOTE).ok
    [post] = fake_slack.received
    assert post.path.startswith("/webhook/")
    assert "Asha Verma" in (post.text or "") and post.blocks

    fake_slack.script([(404, "channel_not_found")])
    outcome = channel.send(NOTE)
    assert outcome == Outcome.final("slack webhook: HTTP 404 channel_not_found")
    assert "standin" not in outcome.reason  # the webhook URL is a secret
    channel.close()


# --- email ----------------------------------------------------------------------------


def email_settings(sink: SmtpSink, **env: Any) -> Settings:
    return settings(
        SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_FROM="alerts@school.example", **env
    )


TO = {"to": ["office@school.example", "head@school.example"]}


def test_email_has_subject_prefix_text_and_html(smtp_sink: SmtpSink) -> None:
    channel = build("email", TO, email_settings(smtp_sink))
    assert channel.send(NOTE) == Outcome.sent()
    [mail] = smtp_sink.received
    assert mail.mail_from == "alerts@school.example"
    assert mail.rcpt_tos == TO["to"]
    msg = mail.message
    assert msg["Subject"].startswith("[failed-exam] Asha Verma")
    assert "delivery-42" in msg["Message-ID"]
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and "Algebra Mock 3" in text.get_content()
    assert html is not None and "<strong>Asha Verma</strong>" in html.get_content()


def test_email_login_and_a_wrong_password() -> None:
    with SmtpSink(username="notifier", password=SMTP_PASSWORD) as sink:
        good = email_settings(sink, SMTP_USERNAME="notifier", SMTP_PASSWORD=SMTP_PASSWORD)
        sent = build("email", TO, good).send(NOTE)
        assert sent.ok and sent.answer == "250"
        assert [m.login for m in sink.received] == ["notifier"]

        bad = email_settings(sink, SMTP_USERNAME="notifier", SMTP_PASSWORD="wrong-" + TOKEN)
        outcome = build("email", TO, bad).send(NOTE)
        assert not outcome.retryable and "535" in outcome.reason and outcome.answer == "535"
        assert "wrong-" not in outcome.reason
        assert_no_secret(outcome)

        anonymous = build("email", TO, email_settings(sink)).send(NOTE)
        assert not anonymous.ok and not anonymous.retryable  # 530 authentication required


def test_email_server_down_is_retried_and_delivered_when_back() -> None:
    sink = SmtpSink()
    st = email_settings(sink)
    channel = build("email", TO, st, send_timeout=2)
    outcome = channel.send(NOTE)  # nothing listens yet
    assert outcome.retryable and "SMTP connection failed" in outcome.reason
    with sink:
        assert channel.send(NOTE).ok
    assert channel.send(NOTE).retryable  # down again
    with sink:
        assert channel.send(NOTE).ok
    assert len(sink.received) == 2  # one per send that found the server up


def test_email_refused_recipients_are_final_and_a_busy_server_is_retried(
    smtp_sink: SmtpSink,
) -> None:
    channel = build("email", TO, email_settings(smtp_sink))
    smtp_sink.reject(*TO["to"])
    refused = channel.send(NOTE)
    assert not refused.retryable and "550" in refused.reason

    smtp_sink.reject()  # nobody else
    only_one = build("email", {"to": ["new@school.example"]}, email_settings(smtp_sink))
    smtp_sink.script_data(["451 4.3.0 try again later"])
    busy = only_one.send(NOTE)
    assert busy.retryable and "451" in busy.reason
    assert only_one.send(NOTE).ok


# --- webhook --------------------------------------------------------------------------


def test_webhook_is_signed_and_verified_by_the_receiver() -> None:
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        channel = build("webhook", {"url": receiver.url, "secret": WEBHOOK_SECRET}, settings())
        assert channel.send(NOTE) == Outcome.sent()
        [request] = receiver.received
        assert request.verified
        assert request.headers["content-type"] == "application/json"
        assert request.headers["webhook-id"] == "delivery-42"
        assert request.headers["webhook-signature"].startswith("v1,")
        assert request.json["type"] == "notifier.alert" and request.json["id"] == "delivery-42"
        assert request.json["alerts"] == [
            {"event": "attempt.completed", "key": "68701", "data": ALERT.data}
        ]

        # The same request with one byte changed, and a sender with the wrong secret.
        body, headers = channel.request(NOTE)
        tampered = body.replace(b"Asha", b"Usha")
        assert httpx.post(receiver.url, content=tampered, headers=headers).status_code == 401
        wrong = build("webhook", {"url": receiver.url, "secret": OTHER_SECRET}, settings())
        outcome = wrong.send(NOTE)
        assert outcome == Outcome.final(f"POST {receiver.url}: HTTP 401")
        assert [r.verified for r in receiver.received] == [True, False, False]
        channel.close()
        wrong.close()


def test_webhook_signature_and_sent_at_follow_the_clock_for_any_body() -> None:
    """Signed on the body's bytes as sent (a name outside ASCII included), `sent_at`
    and `webhook-timestamp` moving on with the clock: the standardwebhooks library
    verifies every send, however many a second."""
    secret = "whsec_c2lnbmluZy1rZXk="  # base64 of "signing-key"
    start = int(time.time())  # the library checks the timestamp against its own clock
    clock = ManualClock(start + 0.5)
    config = WebhookConfig(type="webhook", url="http://127.0.0.1:9/hook", secret=secret)
    channel = WebhookChannel("x", config, settings(), clock=clock)
    alert = Alert("attempt.completed", "1", {"student": "Ådne Øyvind 学生"}, ())
    note = Notification(id="d-1", rule="failed-exam", channel="x", alerts=(alert,))
    stamps = []
    for step in (0.0, 0.4, 0.7, 2.0):  # twice in one second, then the next, then later
        clock.advance(step)
        body, headers = channel.request(render_message(WebhookMessage, note))
        Webhook(secret).verify(body, headers)  # raises when the signature does not hold
        sent = json.loads(body)
        assert sent["alerts"][0]["data"]["student"] == "Ådne Øyvind 学生"
        assert "Ådne".encode() in body  # UTF-8 as sent, not escaped
        stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
        assert sent["sent_at"] == stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        stamps.append(headers["webhook-timestamp"])
    assert stamps == [str(start + n) for n in (0, 0, 1, 3)]
    channel.close()


def test_webhook_server_error_is_retried_then_accepted(webhook_receiver: WebhookReceiver) -> None:
    channel = build("webhook", {"url": webhook_receiver.url}, settings())
    webhook_receiver.script([(500, "boom"), (429, "", {"Retry-After": "30"})])
    failed = channel.send(NOTE)
    assert failed.retryable and failed.answer == "500"
    limited = channel.send(NOTE)
    assert limited.retryable and limited.retry_after == 30.0
    assert limited.answer == "429 Retry-After 30"  # the try's answer, in short
    accepted = channel.send(NOTE)
    assert accepted.ok and accepted.answer == "204"
    # The same delivery id every time: the receiver can de-duplicate.
    assert {r.json["id"] for r in webhook_receiver.received} == {"delivery-42"}


@pytest.mark.parametrize("status", [400, 404, 410])
def test_webhook_client_errors_are_final(webhook_receiver: WebhookReceiver, status: int) -> None:
    webhook_receiver.script([(status, "no")])
    outcome = build("webhook", {"url": webhook_receiver.url}, settings()).send(NOTE)
    assert not outcome.ok and not outcome.retryable and f"HTTP {status}" in outcome.reason


def test_webhook_that_hangs_or_refuses_is_retried(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.script(["hang"])
    channel = build("webhook", {"url": webhook_receiver.url}, settings(), send_timeout=0.3)
    assert channel.send(NOTE) == Outcome.retry(f"POST {webhook_receiver.url}: timeout")

    url = f"http://127.0.0.1:{free_port()}/hook"
    refused = build("webhook", {"url": url}, settings()).send(NOTE)
    assert refused.retryable and "connection failed" in refused.reason


def test_webhook_posts_on_httpx_own_pool_and_falls_back_for_other_transports(
    webhook_receiver: WebhookReceiver,
) -> None:
    """httpx's own transport is passed by (its connection pool takes the POST); any other
    transport (a mock, a proxy of a later httpx) is used as a transport."""
    url = httpx.URL(webhook_receiver.url)
    client = httpx.Client()
    try:
        assert core_pool(direct_transport(client, url)) is not None
    finally:
        client.close()
    assert core_pool(httpx.MockTransport(lambda request: httpx.Response(204))) is None
    assert core_pool(None) is None
    mocked = build("webhook", {"url": webhook_receiver.url}, settings())
    mocked.channel._clients = PerThread(  # every send through a transport not httpx's own
        lambda: httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503))),
        url,
    )
    assert mocked.send(NOTE) == Outcome.retry(f"POST {webhook_receiver.url}: HTTP 503", None, "503")


def test_webhook_reason_hides_secret_and_query(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.script([(403, "forbidden")])
    url = webhook_receiver.url.replace("http://", "http://user:pw@") + "?token=abc123"
    channel = build("webhook", {"url": url, "secret": WEBHOOK_SECRET}, settings())
    outcome = channel.send(NOTE)
    assert outcome == Outcome.final(f"POST {webhook_receiver.url}: HTTP 403")
    assert_no_secret(outcome)


# --- console --------------------------------------------------------------------------


def test_console_writes_one_line_per_alert() -> None:
    stream = io.StringIO()
    two = Notification("d", "failed-exam", "terminal", (ALERT, ALERT))
    assert build("console", {}, settings(), console_stream=stream).send(two).ok
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith('[failed-exam] Asha Verma completed exam "Algebra Mock 3"')


def test_console_defaults_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert build("console", {}, settings()).send(NOTE).ok
    assert "because result Fail" in capsys.readouterr().out
