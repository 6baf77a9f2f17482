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
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from notifier.channels.base import Alert, Notification, Reason
from notifier.events import best_label

# Slack's limits: https://api.slack.com/reference/block-kit/blocks
SLACK_MAX_BLOCKS = 50
SLACK_MAX_TEXT = 3000
SLACK_MAX_HEADER = 150
SLACK_FALLBACK_ALERTS = 5  # alerts spelled out in the notification (fallback) text
# Plain text and email list at most this many alerts, then say "and N more".
MAX_LISTED_ALERTS = 500
SUBJECT_MAX = 180
VALUE_MAX = 200  # one Testpress value in a line
ZWJ = "\u200d"

DURATION_FIELDS = frozenset({"duration", "time_taken", "remaining_time"})
_OPS = {
    "ne": "!=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "in": "in",
    "not_in": "not in",
    "contains": "contains",
    "matches": "matches",
}
_CONTENT_NAMES = {"video_conference": "live class", "live_stream": "live stream"}


# --- values ---------------------------------------------------------------------------


def one_line(value: Any, limit: int = VALUE_MAX) -> str:
    """Any value as one line of at most `limit` characters: control characters and every
    kind of line break become spaces (so a title can never break a subject header or
    a console line), runs of whitespace collapse."""
    text = value if isinstance(value, str) else str(value)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return one_line(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{round(value, 2):g}" if abs(value) < 1e15 else str(value)
    return str(value)


def _duration(seconds: Any) -> str:
    """Seconds as a person reads them: `45 s`, `5.2 min`, `2 h 48 min`."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return one_line(seconds)
    if seconds < 60:
        return f"{_num(round(seconds))} s"
    if seconds < 7200:
        return f"{_num(round(seconds / 60, 1))} min"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {round(rest / 60)} min"


def _value(field: str, value: Any) -> str:
    if value is None:
        return "missing"
    if field.split(".")[-1] in DURATION_FIELDS and isinstance(value, int | float):
        return _duration(value)
    if isinstance(value, list | tuple | set | frozenset):
        return one_line(", ".join(_value(field, v) for v in value), VALUE_MAX)
    return _num(value)


def reason_text(reason: Reason) -> str:
    """One firing condition with the value that met it: `result Fail`,
    `percentile 12.5 (rule: < 30)`, `email missing`."""
    field = one_line(reason.field, 80)
    actual = _value(reason.field, reason.actual)
    if reason.op == "eq":
        return f"{field} {actual}"
    if reason.op == "exists":
        return f"{field} {'present' if reason.expected else 'missing'}"
    op = _OPS.get(reason.op, one_line(reason.op, 40))
    return f"{field} {actual} (rule: {op} {_value(reason.field, reason.expected)})"


# --- what an alert says ---------------------------------------------------------------


@dataclass(frozen=True)
class Described:
    """An alert in words, before any escaping: `student did (details) because why`."""

    student: str
    did: str
    details: tuple[str, ...]
    why: tuple[str, ...]

    def sentence(self) -> str:
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
    else:
        did = f"{one_line(alert.event, 60)} {one_line(alert.key, 60)}"
    return Described(
        student=student_label(data),
        did=did,
        details=tuple(text for field, text in details if field not in fired),
        why=tuple(reason_text(r) for r in alert.reasons),
    )


def alert_summary(alert: Alert, rule: str) -> str:
    """One plain line: `[rule] Student completed exam "T" (score 12) because result Fail`."""
    return f"[{one_line(rule, 100)}] {describe(alert).line()}"


def _more(count: int) -> str:
    return f"and {count} more"


def plain_text(n: Notification) -> str:
    """The summary a person reads: one line per alert (at most MAX_LISTED_ALERTS)."""
    lines = [alert_summary(a, n.rule) for a in n.alerts[:MAX_LISTED_ALERTS]]
    if len(n.alerts) > MAX_LISTED_ALERTS:
        lines.append(_more(len(n.alerts) - MAX_LISTED_ALERTS))
    return "\n".join(lines) if lines else f"[{one_line(n.rule, 100)}] (no alerts)"


def console_line(n: Notification) -> str:
    """One line per alert, joined by newlines; no alert's line contains a newline."""
    return plain_text(n)


# --- Slack ----------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's three control characters; afterwards `<!channel>` is inert text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_mrkdwn_escape(text: str) -> str:
    """For text Slack parses as mrkdwn: escape, and wrap `*_~` and backticks in zero-width
    joiners so they cannot open or close bold, italics, strike or code."""
    text = slack_escape(text)
    for char in "*_~`":
        text = text.replace(char, f"{ZWJ}{char}{ZWJ}")
    return text


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


def slack_message(n: Notification) -> tuple[str, list[dict[str, Any]]]:
    """`text` (the notification/fallback text, always set) and Block Kit `blocks`.

    Testpress text only ever appears escaped inside `plain_text` objects (which Slack
    never formats) or in the neutralised fallback `text`; mrkdwn carries only our own
    words. At most SLACK_MAX_BLOCKS blocks and SLACK_MAX_TEXT characters per text."""
    rule = one_line(n.rule, 100)
    total = len(n.alerts)
    header = rule if total == 1 else f"{rule}: {total} alerts"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(header, SLACK_MAX_HEADER)},
    ]
    room = SLACK_MAX_BLOCKS - len(blocks)
    shown = n.alerts if total <= room else n.alerts[: room - 1]
    for alert in shown:
        d = describe(alert)
        text = d.sentence() + (f"\nBecause: {'; '.join(d.why)}" if d.why else "")
        blocks.append({"type": "section", "text": _plain(text)})
    if len(shown) < total:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"_{_more(total - len(shown))}_"}],
            }
        )

    lines = [alert_summary(a, n.rule) for a in n.alerts[:SLACK_FALLBACK_ALERTS]]
    if total > SLACK_FALLBACK_ALERTS:
        lines.append(_more(total - SLACK_FALLBACK_ALERTS))
    if total > 1:
        lines.insert(0, f"[{rule}] {total} alerts")
    fallback = "\n".join(slack_mrkdwn_escape(line) for line in lines) or slack_escape(header)
    return _cut(fallback, SLACK_MAX_TEXT), blocks


# --- email ----------------------------------------------------------------------------


def email_message(n: Notification) -> tuple[str, str, str]:
    """(subject, text, html). The subject begins `[<rule>]` and never holds CR or LF."""
    rule = one_line(n.rule, 100)
    total = len(n.alerts)
    if total == 0:
        subject = f"[{rule}] (no alerts)"
    else:
        first = describe(n.alerts[0])
        if total == 1:
            subject = f"[{rule}] {first.line()}"
        else:
            subject = f"[{rule}] {total} alerts: {first.sentence()}"
    subject = one_line(subject, SUBJECT_MAX)

    text = plain_text(n) + f"\n\n-- \nRule {rule}, channel {one_line(n.channel, 100)}, "
    text += f"delivery {one_line(n.id, 100)}\n"

    items = []
    for alert in n.alerts[:MAX_LISTED_ALERTS]:
        d = describe(alert)
        item = f"<strong>{html.escape(d.student)}</strong> {html.escape(d.did)}"
        if d.details:
            item += f" ({html.escape(', '.join(d.details))})"
        if d.why:
            why = html.escape("; ".join(d.why))
            item += f'<br><span style="color:#555">Because: {why}</span>'
        items.append(f'<li style="margin-bottom:8px">{item}</li>')
    more = ""
    if total > MAX_LISTED_ALERTS:
        more = f"<p>{_more(total - MAX_LISTED_ALERTS)}</p>"
    body = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>"
        '<body style="font-family:sans-serif">'
        f'<h2 style="font-size:18px">{html.escape(rule)}</h2>'
        f"<ul>{''.join(items)}</ul>{more}"
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


def webhook_body(n: Notification, sent_at: datetime) -> dict[str, Any]:
    """Exactly the contract's JSON shape (section 6)."""
    return {
        "type": "notifier.alert",
        "id": n.id,
        "rule": n.rule,
        "channel": n.channel,
        "text": plain_text(n),
        "alerts": [{"event": a.event, "key": a.key, "data": a.data} for a in n.alerts],
        "sent_at": utc_z(sent_at),
    }
