"""A notification → the text, Slack blocks, email parts, webhook JSON or console line a
channel sends (contract section 6). Pure: no I/O, no clock (the webhook's `sent_at` is
passed in).

Every alert names the rule, the student, what they did (by title where known, else by
id) and the values that made the rule fire. Everything that came from Testpress (names,
emails, titles, answers) is untrusted: it is first made one line (control characters
and newlines become spaces, long values are cut), then escaped for the target format.
Slack gets `&`, `<`, `>` escaped everywhere, Testpress text only in `plain_text`
objects, and `*_~` and backticks neutralised in the mrkdwn fallback `text`, so a
student called `<!channel>` can never notify a channel, link, or format.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from notifier.channels.base import Alert, Notification
from notifier.delivery.history_text import history_did, inactive_did
from notifier.delivery.templates import (
    RuleTemplates,
    active_templates,
    context_for,
    history_extra,
    try_render,
)
from notifier.delivery.text import duration_text, number_text, one_line, reason_text
from notifier.events import best_label

# Slack's limits: https://api.slack.com/reference/block-kit/blocks
SLACK_MAX_BLOCKS = 50
SLACK_MAX_TEXT = 3000
SLACK_MAX_HEADER = 150
SLACK_FALLBACK_ALERTS = 5  # alerts spelled out in the notification (fallback) text
# Plain text and email list at most this many alerts, then say "and N more".
MAX_LISTED_ALERTS = 500
SUBJECT_MAX = 180
ZWJ = "\u200d"

_CONTENT_NAMES = {"video_conference": "live class", "live_stream": "live stream"}


# --- values ---------------------------------------------------------------------------


_num = number_text
_duration = duration_text


# --- what an alert says ---------------------------------------------------------------


@dataclass(frozen=True)
class Described:
    """An alert in words, before any escaping: `student did (details) because why`."""

    student: str
    did: str
    details: tuple[str, ...]
    why: tuple[str, ...]
    message: str | None = None  # the rule's `message` template, rendered (one line)

    def sentence(self) -> str:
        if self.message is not None:
            return self.message
        text = f"{self.student} {self.did}"
        if self.details:
            text += f" ({', '.join(self.details)})"
        return text

    def line(self) -> str:
        if not self.why:
            return self.sentence()
        return f"{self.sentence()} because {'; '.join(self.why)}"


def _present(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    return value is not None and value != ""


def _named(kind: str, data: dict[str, Any], title_key: str, id_key: str) -> str:
    if _present(data, title_key):
        return f'{kind} "{one_line(data[title_key])}"'
    if _present(data, id_key):
        return f"{kind} {_num(data[id_key])}"
    return f"a {kind}" if kind[0] not in "aeiou" else f"an {kind}"


def student_label(data: dict[str, Any]) -> str:
    label = best_label(
        data.get("student"),
        data.get("name"),
        data.get("username"),
        data.get("email"),
        user_id=data.get("user_id"),
    )
    return one_line(label) if label else "unknown student"


def describe(alert: Alert) -> Described:
    data = alert.data if isinstance(alert.data, dict) else {}
    fired = {r.field.split(".")[0] for r in alert.reasons}
    details: list[tuple[str, str]] = []  # (field, text); fields that fired are left out

    def add(field: str, text: str) -> None:
        if _present(data, field):
            details.append((field, text))

    if alert.event == "attempt.completed":
        did = "completed " + _named("exam", data, "exam_title", "exam_id")
        add("score", f"score {_num(data.get('score'))}")
        add("percentage", f"{_num(data.get('percentage'))}%")
        add("percentile", f"percentile {_num(data.get('percentile'))}")
        add("result", f"result {_num(data.get('result'))}")
    elif alert.event == "content_attempt.completed":
        raw_type = one_line(data.get("content_type") or "content", 40)
        kind = _CONTENT_NAMES.get(raw_type, raw_type)
        if _present(data, "title") or _present(data, "chapter_content_id"):
            did = "completed " + _named(kind, data, "title", "chapter_content_id")
        else:
            did = "completed " + _named(f"{kind} attempt", data, "-", "id")
        if _present(data, "course_title"):
            did += f' in course "{one_line(data["course_title"])}"'
        elif _present(data, "course_id"):
            did += f" in course {_num(data['course_id'])}"
        add("watched_percentage", f"watched {_num(data.get('watched_percentage'))}%")
        add("percentage", f"{_num(data.get('percentage'))}%")
        add("total_score", f"score {_num(data.get('total_score'))}")
        add("result", f"result {_num(data.get('result'))}")
        add("rank", f"rank {_num(data.get('rank'))}")
    elif alert.event == "conference.attendance":
        did = "attended " + _named("live class", data, "conference_title", "conference_id")
        if _present(data, "duration") and "duration" not in fired:
            did += f" for {_duration(data['duration'])}"
        sessions = data.get("sessions")
        add("sessions", f"{_num(sessions)} session{'' if sessions == 1 else 's'}")
    elif alert.event == "student.inactive":
        did, extra = inactive_did(data)
        details += [("last_activity", text) for text in extra]
    elif alert.event == "notifier.health":
        return _describe_health(data, alert)
    else:
        did = f"{one_line(alert.event, 60)} {one_line(alert.key, 60)}"
    told = history_did(alert.event, data, alert.reasons)
    if told is not None:  # a history rule: the events that made it fire say it all
        did, details = told, []
    return Described(
        student=student_label(data),
        did=did,
        details=tuple(text for field, text in details if field not in fired),
        why=tuple(reason_text(r) for r in alert.reasons),
    )


_HEALTH_WORDS = {  # problem -> (when it starts, when it ends), about `subject`
    "source_failing": ("cannot read the {} source", "reads the {} source again"),
    "rules_invalid": (
        "cannot load the changed rules file {} (the last good rules still run)",
        "loaded the rules file {} again",
    ),
    "deliveries_dead": ("has dead deliveries to channel {}", "has no dead deliveries to {} left"),
}


def _describe_health(data: dict[str, Any], alert: Alert) -> Described:
    problem = one_line(data.get("problem") or "trouble", 40)
    subject = one_line(data.get("subject") or "?", 200)
    words = _HEALTH_WORDS.get(problem, (f"has a problem ({problem}) with {{}}", "{}: resolved"))
    did = words[1 if data.get("resolved") else 0].format(subject)
    details = ["resolved"] if data.get("resolved") else []
    if _present(data, "since"):
        began = "it began" if data.get("resolved") else "since"
        details.append(f"{began} {one_line(data['since'], 40)}")
    if _present(data, "detail"):
        details.append(one_line(data["detail"], 500))
    return Described(
        student="The notifier",
        did=did,
        details=tuple(details),
        why=tuple(reason_text(r) for r in alert.reasons),
    )


# --- the rule's templates (notifier.delivery.templates) ------------------------------------------


def _templates(rule: str, given: RuleTemplates | None) -> RuleTemplates | None:
    """The templates to use: those given, else the running rules' (by rule name)."""
    return given if given is not None else active_templates(rule)


def _context(alert: Alert, rule: str, count: int, why: tuple[str, ...]) -> dict[str, Any]:
    data = alert.data if isinstance(alert.data, dict) else {}
    extras = {"rule": rule, "event": alert.event, "key": alert.key, "why": "; ".join(why)}
    earlier = {"history": history_extra(alert.event, data), "count": count}
    return context_for(alert.event, data, {**extras, **earlier})


def _message(
    alert: Alert, rule: str, t: RuleTemplates | None, count: int, *, html: bool = False
) -> tuple[Described, str | None]:
    """The alert described, and its `message` template rendered (None: default wording);
    with `html` the template's values are HTML-escaped and its line breaks kept."""
    d = describe(alert)
    if t is None or t.message is None or t.event != alert.event:
        return d, None
    text = try_render(t.message, _context(alert, rule, count, d.why), rule, html=html)
    return d, text


def said(alert: Alert, rule: str, t: RuleTemplates | None = None, count: int = 1) -> Described:
    """The alert in words, with the rule's `message` template (made one line) in place of
    the default sentence when the rule has one."""
    d, text = _message(alert, rule, t, count)
    if text is None or not text.strip():
        return d
    return Described(d.student, d.did, d.details, d.why, one_line(text, SLACK_MAX_TEXT))


def title_text(n: Notification, templates: RuleTemplates | None = None) -> str | None:
    """The rule's `title` template rendered for this notification (with its first
    alert's fields and `count`), one line; None when the rule has none or it failed."""
    t = _templates(n.rule, templates)
    if t is None or t.title is None or not n.alerts or t.event != n.alerts[0].event:
        return None
    first = n.alerts[0]
    context = _context(first, n.rule, len(n.alerts), describe(first).why)
    text = try_render(t.title, context, n.rule)
    return one_line(text, SUBJECT_MAX) if text and text.strip() else None


def _summary(alert: Alert, rule: str, t: RuleTemplates | None, count: int) -> str:
    return f"[{one_line(rule, 100)}] {said(alert, rule, t, count).line()}"


def alert_summary(alert: Alert, rule: str, templates: RuleTemplates | None = None) -> str:
    """One plain line: `[rule] Student completed exam "T" (score 12) because result Fail`
    (the rule's `message` template, when it has one, in place of the sentence)."""
    return _summary(alert, rule, _templates(rule, templates), 1)


def _more(count: int) -> str:
    return f"and {count} more"


def plain_text(n: Notification, templates: RuleTemplates | None = None) -> str:
    """The summary a person reads: one line per alert (at most MAX_LISTED_ALERTS)."""
    t = _templates(n.rule, templates)
    total = len(n.alerts)
    lines = [_summary(a, n.rule, t, total) for a in n.alerts[:MAX_LISTED_ALERTS]]
    if total > MAX_LISTED_ALERTS:
        lines.append(_more(total - MAX_LISTED_ALERTS))
    return "\n".join(lines) if lines else f"[{one_line(n.rule, 100)}] (no alerts)"


def console_line(n: Notification, templates: RuleTemplates | None = None) -> str:
    """One line per alert, joined by newlines; no alert's line contains a newline."""
    return plain_text(n, templates)


# --- Slack ----------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's three control characters; afterwards `<!channel>` is inert text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")  # never cut an entity such as `&lt;` in half
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _plain(text: str, limit: int = SLACK_MAX_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(slack_escape(text), limit), "emoji": False}


def slack_message(
    n: Notification, templates: RuleTemplates | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """`text` (the notification/fallback text, always set) and Block Kit `blocks`.

    Testpress text only ever appears escaped inside `plain_text` objects (which Slack
    never formats) or in the fallback `text` (posted with mrkdwn off); mrkdwn carries only our own
    words. At most SLACK_MAX_BLOCKS blocks and SLACK_MAX_TEXT characters per text.
    A rule's `title` template is the header, its `message` template each alert's text
    (its own line breaks kept); both are escaped as a whole, values and all."""
    t = _templates(n.rule, templates)
    rule = one_line(n.rule, 100)
    total = len(n.alerts)
    title = title_text(n, t)
    header = title or (rule if total == 1 else f"{rule}: {total} alerts")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(header, SLACK_MAX_HEADER)},
    ]
    room = SLACK_MAX_BLOCKS - len(blocks)
    shown = n.alerts if total <= room else n.alerts[: room - 1]
    for alert in shown:
        d, custom = _message(alert, n.rule, t, total)
        sentence = custom.strip() if custom and custom.strip() else d.sentence()
        text = sentence + (f"\nBecause: {'; '.join(d.why)}" if d.why else "")
        blocks.append({"type": "section", "text": _plain(text)})
    if len(shown) < total:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"_{_more(total - len(shown))}_"}],
            }
        )

    lines = [_summary(a, n.rule, t, total) for a in n.alerts[:SLACK_FALLBACK_ALERTS]]
    if total > SLACK_FALLBACK_ALERTS:
        lines.append(_more(total - SLACK_FALLBACK_ALERTS))
    if title:
        lines.insert(0, f"[{rule}] {title}")
    elif total > 1:
        lines.insert(0, f"[{rule}] {total} alerts")
    # Sent with mrkdwn off: escaping `&<>` is all it takes, and names stay as written.
    fallback = "\n".join(slack_escape(line) for line in lines) or slack_escape(header)
    return _cut(fallback, SLACK_MAX_TEXT), blocks


# --- email ----------------------------------------------------------------------------


def email_message(n: Notification, templates: RuleTemplates | None = None) -> tuple[str, str, str]:
    """(subject, text, html). The subject begins `[<rule>]` and never holds CR or LF.
    A rule's `title` template follows `[<rule>]` in the subject and heads the HTML; its
    `message` template is each alert's text, rendered for HTML with every value
    escaped."""
    t = _templates(n.rule, templates)
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

    rows = []
    for alert in n.alerts[:MAX_LISTED_ALERTS]:
        d, custom = _message(alert, n.rule, t, total, html=True)
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
        "</body></html>\n"
    )
    return subject, text, body


# --- webhook --------------------------------------------------------------------------


def utc_z(when: datetime) -> str:
    """`2026-11-25T10:00:00Z`; a naive time is taken to be UTC already."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def webhook_body(
    n: Notification, sent_at: datetime, templates: RuleTemplates | None = None
) -> dict[str, Any]:
    """Exactly the contract's JSON shape (section 6); `text` uses the rule's `message`
    template, unescaped (JSON needs none)."""
    return {
        "type": "notifier.alert",
        "id": n.id,
        "rule": n.rule,
        "channel": n.channel,
        "text": plain_text(n, templates),
        "alerts": [{"event": a.event, "key": a.key, "data": a.data} for a in n.alerts],
        "sent_at": utc_z(sent_at),
    }
