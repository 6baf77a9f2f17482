"""With NOTIFIER_CONSOLE_URL, Slack, email and webhook alerts link the alert's page in
the console (`<url>/alerts/<the id the message carries>`; a grouped message's page lists
its rows); without it, nothing changes."""

from __future__ import annotations

from notifier.channels.base import (
    Alert,
    ConsoleLine,
    MailMessage,
    Notification,
    SlackMessage,
    WebhookMessage,
)
from notifier.delivery.render import render_message
from notifier.delivery.slack_blocks import SLACK_MAX_BLOCKS

URL = "https://notifier.school.example"
DATA = {"user_id": 9, "student": "Asha <!channel> Verma", "exam_title": "Algebra", "result": "Fail"}


def _one() -> Notification:
    return Notification(
        "msg_abc", "failed-exam", "teachers", (Alert("attempt.completed", "1", DATA),)
    )


def test_each_format_links_the_alerts_page() -> None:
    n = _one()
    slack = render_message(SlackMessage, n, None, URL)
    assert isinstance(slack, SlackMessage)
    assert slack.blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"<{URL}/alerts/msg_abc|Open in the console>"}],
    }
    mail = render_message(MailMessage, n, None, URL)
    assert isinstance(mail, MailMessage)
    assert f"Open in the console: {URL}/alerts/msg_abc" in mail.text
    assert f'<a href="{URL}/alerts/msg_abc">Open in the console</a>' in mail.html
    hook = render_message(WebhookMessage, n, None, URL)
    assert isinstance(hook, WebhookMessage)
    assert hook.body["console_url"] == f"{URL}/alerts/msg_abc"
    line = render_message(ConsoleLine, n, None, URL)
    assert isinstance(line, ConsoleLine) and URL not in line.text


def test_without_a_console_url_nothing_links() -> None:
    n = _one()
    slack = render_message(SlackMessage, n)
    assert isinstance(slack, SlackMessage) and all(b["type"] != "context" for b in slack.blocks)
    mail = render_message(MailMessage, n)
    assert isinstance(mail, MailMessage) and "console" not in mail.text + mail.html
    hook = render_message(WebhookMessage, n)
    assert isinstance(hook, WebhookMessage) and "console_url" not in hook.body


def test_a_group_links_its_message_and_slack_keeps_its_block_limit() -> None:
    alerts = tuple(Alert("attempt.completed", str(i), DATA) for i in range(80))
    n = Notification("msg_group", "failed exam", "teachers", alerts)
    slack = render_message(SlackMessage, n, None, URL)
    assert isinstance(slack, SlackMessage)
    assert len(slack.blocks) <= SLACK_MAX_BLOCKS
    link = slack.blocks[-1]["elements"][0]["text"]
    assert link == f"<{URL}/alerts/msg_group|Open in the console>"
