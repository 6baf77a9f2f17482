"""A notification → the message a channel sends (contract section 6): Slack blocks and
text, email subject, text and HTML, webhook JSON, a console line; one renderer per
format over the alerts as `notifier.delivery.describe` says them, and `render_message`
picking the renderer for the message type a channel takes. Pure: no I/O, no clock (the
webhook's `sent_at` is stamped by its channel, or passed in), templates passed in.

Every alert names the rule, the student, what they did (by title where known, else by
id) and the values that made the rule fire. Everything that came from Testpress (names,
emails, titles, answers) is untrusted: it is first made one line (control characters
and newlines become spaces, long values are cut), then escaped for the target format.
Slack's blocks and text are `notifier.delivery.slack_blocks`' (a student called
`<!channel>` can never notify a channel, link, or format there).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime

from notifier.channels.base import (
    Alert,
    ConsoleLine,
    MailMessage,
    Message,
    Notification,
    SlackMessage,
    WebhookMessage,
)
from notifier.delivery.describe import (
    SUBJECT_MAX,
    message_for,
    said,
    title_text,
)
from notifier.delivery.slack_blocks import ZWJ as ZWJ  # re-exported: callers strip it
from notifier.delivery.slack_blocks import slack_message as slack_message
from notifier.events import JSONValue
from notifier.rules.templates import RuleTemplates
from notifier.text import one_line

# Plain text and email list at most this many alerts, then say "and N more".
MAX_LISTED_ALERTS = 500


def _summary(alert: Alert, rule: str, t: RuleTemplates | None, count: int) -> str:
    return f"[{one_line(rule, 100)}] {said(alert, rule, t, count).line()}"


def alert_summary(alert: Alert, rule: str, templates: RuleTemplates | None = None) -> str:
    """One plain line: `[rule] Student completed exam "T" (score 12) because result Fail`
    (the rule's `message` template, when it has one, in place of the sentence)."""
    return _summary(alert, rule, templates, 1)


def _more(count: int) -> str:
    return f"and {count} more"


def plain_text(n: Notification, templates: RuleTemplates | None = None) -> str:
    """The summary a person reads: one line per alert (at most MAX_LISTED_ALERTS)."""
    t = templates
    total = len(n.alerts)
    lines = [_summary(a, n.rule, t, total) for a in n.alerts[:MAX_LISTED_ALERTS]]
    if total > MAX_LISTED_ALERTS:
        lines.append(_more(total - MAX_LISTED_ALERTS))
    return "\n".join(lines) if lines else f"[{one_line(n.rule, 100)}] (no alerts)"


def console_line(n: Notification, templates: RuleTemplates | None = None) -> str:
    """One line per alert, joined by newlines; no alert's line contains a newline."""
    return plain_text(n, templates)


# --- Slack: notifier.delivery.slack_blocks -------------------------------------------


# --- email ----------------------------------------------------------------------------


def alert_link(console_url: str | None, n: Notification) -> str | None:
    """The alert's page in the console (contract section 14): `<url>/alerts/<id>`, the
    id the message carries (a grouped message's page lists the rows it carried); None
    without a console URL."""
    return f"{console_url}/alerts/{n.id}" if console_url else None


def email_message(
    n: Notification, templates: RuleTemplates | None = None, link: str | None = None
) -> tuple[str, str, str]:
    """(subject, text, html). The subject begins `[<rule>]` and never holds CR or LF.
    A rule's `title` template follows `[<rule>]` in the subject and heads the HTML; its
    `message` template is each alert's text, rendered for HTML with every value
    escaped."""
    t = templates
    rule = one_line(n.rule, 10_000)  # rule names are one line already; never cut them
    total = len(n.alerts)
    title = title_text(n, t)
    if total == 0:
        rest = "(no alerts)"
    elif title:
        rest = title
    else:
        first = said(n.alerts[0], n.rule, t, total)
        rest = first.line() if total == 1 else f"{total} alerts: {first.sentence()}"
    # The subject begins `[<rule name>]` whatever its length; only the rest is cut.
    subject = f"[{rule}] " + one_line(rest, max(40, SUBJECT_MAX - len(rule) - 3))

    text = plain_text(n, t) + f"\n\n-- \nRule {rule}, channel {one_line(n.channel, 100)}, "
    text += f"delivery {one_line(n.id, 100)}\n"
    if link:
        text += f"Open in the console: {link}\n"

    rows = []
    for alert in n.alerts[:MAX_LISTED_ALERTS]:
        d, custom = message_for(alert, n.rule, t, total, html=True)
        if custom and custom.strip():
            what = custom.strip().replace("\n", "<br>")
        else:
            what = f"<strong>{html.escape(d.student)}</strong> {html.escape(d.did)}"
            if d.details:
                what += f" ({html.escape(', '.join(d.details))})"
        why = html.escape("; ".join(d.why)) if d.why else ""
        rows.append((what, why))
    if total == 1:  # one alert reads as a paragraph, several as a table
        what, why = rows[0]
        because = f'<br><span style="color:#555">Because: {why}</span>' if why else ""
        listing = f"<p>{what}{because}</p>"
    else:
        cell = 'style="border:1px solid #ddd;padding:6px;text-align:left;vertical-align:top"'
        header = f"<tr><th {cell}>Alert</th><th {cell}>Because</th></tr>"
        body_rows = "".join(f"<tr><td {cell}>{w}</td><td {cell}>{y}</td></tr>" for w, y in rows)
        listing = f'<table style="border-collapse:collapse">{header}{body_rows}</table>'
    more = ""
    if total > MAX_LISTED_ALERTS:
        more = f"<p>{_more(total - MAX_LISTED_ALERTS)}</p>"
    body = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>"
        '<body style="font-family:sans-serif">'
        f'<h2 style="font-size:18px">{html.escape(title or rule)}</h2>'
        f"{listing}{more}"
        '<p style="color:#888;font-size:12px">'
        f"Rule {html.escape(rule)}, channel {html.escape(one_line(n.channel, 100))}, "
        f"delivery {html.escape(one_line(n.id, 100))}</p>"
        + (f'<p><a href="{html.escape(link)}">Open in the console</a></p>' if link else "")
        + "</body></html>\n"
    )
    return subject, text, body


# --- webhook --------------------------------------------------------------------------


def utc_z(when: datetime) -> str:
    """`2026-11-25T10:00:00Z`; a naive time is taken to be UTC already."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def webhook_payload(
    n: Notification, templates: RuleTemplates | None = None, link: str | None = None
) -> dict[str, JSONValue]:
    """The contract's JSON shape (section 6) but for `sent_at`, which comes last and is
    the time of the send; `text` uses the rule's `message` template, unescaped (JSON
    needs none); `console_url`, the alert's page, only with a console URL."""
    payload: dict[str, JSONValue] = {
        "type": "notifier.alert",
        "id": n.id,
        "rule": n.rule,
        "channel": n.channel,
        "text": plain_text(n, templates),
        "alerts": [{"event": a.event, "key": a.key, "data": a.data} for a in n.alerts],
    }
    return {**payload, "console_url": link} if link else payload


def webhook_body(
    n: Notification, sent_at: datetime, templates: RuleTemplates | None = None
) -> dict[str, JSONValue]:
    """Exactly the contract's JSON shape (section 6), sent at `sent_at`."""
    return {**webhook_payload(n, templates), "sent_at": utc_z(sent_at)}


# --- by message type ------------------------------------------------------------------

# (notification, the rule's templates, the alert's console page or None) -> message
Renderer = Callable[[Notification, RuleTemplates | None, str | None], Message]


def _slack(n: Notification, t: RuleTemplates | None, link: str | None) -> Message:
    text, blocks = slack_message(n, t, link)
    return SlackMessage(n.id, text, blocks)


def _mail(n: Notification, t: RuleTemplates | None, link: str | None) -> Message:
    subject, text, page = email_message(n, t, link)
    return MailMessage(n.id, subject, text, page)


def _webhook(n: Notification, t: RuleTemplates | None, link: str | None) -> Message:
    return WebhookMessage(n.id, webhook_payload(n, t, link))


def _console(n: Notification, t: RuleTemplates | None, link: str | None) -> Message:
    return ConsoleLine(n.id, console_line(n, t))


RENDERERS: dict[type[Message], Renderer] = {
    SlackMessage: _slack,
    MailMessage: _mail,
    WebhookMessage: _webhook,
    ConsoleLine: _console,
}


def render_message(
    kind: type[Message],
    n: Notification,
    templates: RuleTemplates | None = None,
    console_url: str | None = None,
) -> Message:
    """The message of type `kind` (a channel's `message_type`) for this notification;
    with `console_url` (NOTIFIER_CONSOLE_URL), Slack, email and webhook messages link
    the alert's page in the console."""
    return RENDERERS[kind](n, templates, alert_link(console_url, n))
