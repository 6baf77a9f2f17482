"""A notification → Slack's `text` and Block Kit `blocks` (contract sections 6 and 15):
a header (the rule; for a grouped message what it groups and how many, "Algebra Mock 3:
14 students failed"; for a digest the rule's digest and how many), then one section per
alert: the student's name in bold, what they did, and the figures that made the rule
fire on one line (`score 32 < 40 · percentile 12.5 < 30`).

Testpress gives no page address for an attempt (its `exam_url` and `user_url` are admin
API addresses that answer JSON to a token), so nothing is linked: a link a teacher
cannot open is worse than none.

Everything from Testpress is untrusted. In `mrkdwn` text it has `&`, `<`, `>` escaped (so
it can never mention `@channel` or make a link) and `*_~` and backticks wrapped in
zero-width joiners (so it can never open or close bold, italics, strike or code); only
our own `*` make the name bold. A rule's `title` and `message` templates stay in
`plain_text` (Slack never formats it), escaped as a whole. The fallback `text` is posted
with mrkdwn off, so there it is escaped for `&<>` only and reads as written.

The blocks are a plain list, so another block (say, `actions`) can be appended, within
SLACK_MAX_BLOCKS.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from notifier.channels.base import Alert, Block, Notification
from notifier.delivery.describe import (
    SLACK_MAX_TEXT,
    message_for,
    said,
    student_label,
    title_text,
)
from notifier.delivery.reasons import figure_text
from notifier.rules.templates import RuleTemplates
from notifier.text import number_text, one_line

# Slack's limits: https://api.slack.com/reference/block-kit/blocks
SLACK_MAX_BLOCKS = 50
SLACK_MAX_HEADER = 150
SLACK_FALLBACK_ALERTS = 5  # alerts spelled out in the notification (fallback) text
ZWJ = "\u200d"
Subject = tuple[str, str]  # (the title, or the kind and id; the kind: "exam")
FIGURES_SEP = " · "

# What a group holds, by the field it shares: (id field, title field, what it is).
_SUBJECTS = (
    ("exam_id", "exam_title", "exam"),
    ("conference_id", "conference_title", "live class"),
    ("chapter_content_id", "title", "content"),
    ("course_id", "course_title", "course"),
    ("user_id", "student", "student"),
)


def slack_escape(text: str) -> str:
    """Slack's three control characters; afterwards `<!channel>` is inert text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_escape(text: str) -> str:
    """For Testpress text inside `mrkdwn`: escaped, and `*_~` and backticks wrapped in
    zero-width joiners so they cannot open or close bold, italics, strike or code."""
    text = slack_escape(text)
    for char in "*_~`":
        text = text.replace(char, f"{ZWJ}{char}{ZWJ}")
    return text


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, never cutting an entity such as `&lt;` in half."""
    if len(text) <= limit:
        return text
    kept = text[: limit - 1]
    amp = kept.rfind("&")
    if amp != -1 and ";" not in kept[amp:]:
        kept = kept[:amp]
    return kept + "…"


def _plain(text: str, limit: int = SLACK_MAX_TEXT) -> Block:
    return {"type": "plain_text", "text": cut(slack_escape(text), limit), "emoji": False}


def _mrkdwn(escaped: str) -> Block:
    return {"type": "mrkdwn", "text": cut(escaped, SLACK_MAX_TEXT)}


def figures(alert: Alert) -> str:
    """The values that made the rule fire, on one line: `score 32 < 40 · result Fail`."""
    return FIGURES_SEP.join(figure_text(r) for r in alert.reasons)


def _data(alert: Alert) -> Block:
    return alert.data if isinstance(alert.data, dict) else {}


def group_kind(n: Notification) -> str | None:
    """`group` (the rule's `group_by`), `digest`, or None (one alert, throttling, quiet
    hours: no one thing the message holds)."""
    kind = (n.group or "").split("|")[0].split(":")[0]
    return kind if kind in ("group", "digest") and n.alerts else None


def group_values(n: Notification) -> set[str]:
    """The values a `group_by` group shares, from its outbox group (`group:[133]`)."""
    key = (n.group or "").split("|")[0]
    try:
        values = json.loads(key.removeprefix("group:")) if key.startswith("group:") else []
    except ValueError:
        return set()
    return {str(v) for v in values} if isinstance(values, list) else set()


def group_subject(alerts: Sequence[Alert], grouped: Collection[str] = ()) -> Subject | None:
    """(what every alert shares, by title where known, else by id; what it is): the
    exam of a `group_by: [exam_id]` group. A field whose value is one the group was made
    by (`grouped`) comes first: a course's alerts may all be of one content too."""
    shared = []
    for id_key, title_key, kind in _SUBJECTS:
        ids = {str(_data(a).get(id_key)) for a in alerts}
        first = _data(alerts[0]).get(id_key)
        if len(ids) != 1 or first is None or first == "":
            continue
        titles = [_data(a).get(title_key) for a in alerts]
        title = next((t for t in titles if t not in (None, "")), None)
        subject = (one_line(title, 100) if title else f"{kind} {number_text(first)}"), kind
        if str(first) in grouped:
            return subject
        shared.append(subject)
    return shared[0] if shared else None


def _failed(alert: Alert) -> bool:
    return any(r.field == "result" and r.op == "eq" and r.actual == "Fail" for r in alert.reasons)


def count_text(alerts: Sequence[Alert]) -> str:
    """`14 students failed`, `3 students`, or `5 alerts` (when a student appears twice)."""
    people = {str(_data(a).get("user_id") or student_label(_data(a))) for a in alerts}
    total = len(alerts)
    if len(people) != total:
        return f"{total} alerts"
    text = f"{total} student{'' if total == 1 else 's'}"
    return text + " failed" if all(_failed(a) for a in alerts) else text


def group_header(n: Notification) -> str | None:
    """What a grouped message or digest holds, or None for any other message."""
    kind = group_kind(n)
    if kind == "digest":
        return f"{one_line(n.rule, 100)} digest: {count_text(n.alerts)}"
    if kind == "group":
        subject = group_subject(n.alerts, group_values(n))
        if subject is not None:
            return f"{subject[0]}: {count_text(n.alerts)}"
        return f"{one_line(n.rule, 100)}: {count_text(n.alerts)}"
    return None


def _context(n: Notification) -> Block | None:
    """Under a grouped header: the rule, and what it grouped by."""
    kind = group_kind(n)
    if kind is None:
        return None
    subject = group_subject(n.alerts, group_values(n)) if kind == "group" else None
    how = "digest" if kind == "digest" else f"grouped by {subject[1]}" if subject else "grouped"
    text = f"Rule {mrkdwn_escape(one_line(n.rule, 100))} · {how}"
    return {"type": "context", "elements": [_mrkdwn(text)]}


def alert_block(
    alert: Alert, rule: str, templates: RuleTemplates | None, count: int, in_exam: bool = False
) -> Block:
    """One alert: `*Name* did (details)` and its figures on the next line (`in_exam`: a
    message grouped by exam, whose header names it: `*Name* (details)`); a rule's
    `message` template in plain text, with the figures under it."""
    d, custom = message_for(alert, rule, templates, count)
    line = figures(alert)
    if custom and custom.strip():
        return {"type": "section", "text": _plain(custom.strip() + (f"\n{line}" if line else ""))}
    text = f"*{mrkdwn_escape(d.student)}*"
    if not (in_exam and alert.event == "attempt.completed"):  # the header names the exam
        text += f" {mrkdwn_escape(d.did)}"
    if d.details:
        text += f" ({mrkdwn_escape(', '.join(d.details))})"
    if line:
        text += f"\n{mrkdwn_escape(line)}"
    return {"type": "section", "text": _mrkdwn(text)}


def _summary(alert: Alert, rule: str, templates: RuleTemplates | None, count: int) -> str:
    return f"[{one_line(rule, 100)}] {said(alert, rule, templates, count).line()}"


def slack_message(
    n: Notification, templates: RuleTemplates | None = None, link: str | None = None
) -> tuple[str, list[Block]]:
    """`text` (the notification/fallback text, always set) and Block Kit `blocks`: at
    most SLACK_MAX_BLOCKS blocks and SLACK_MAX_TEXT characters per text. A rule's
    `title` template is the header, its `message` template each alert's text (its own
    line breaks kept)."""
    t = templates
    rule = one_line(n.rule, 100)
    total = len(n.alerts)
    title = title_text(n, t)
    grouped = group_header(n)
    header = title or grouped or (rule if total == 1 else f"{rule}: {total} alerts")
    blocks: list[Block] = [{"type": "header", "text": _plain(header, SLACK_MAX_HEADER)}]
    context = _context(n)
    if context is not None:
        blocks.append(context)
    room = SLACK_MAX_BLOCKS - len(blocks) - (1 if link else 0)
    shown = n.alerts if total <= room else n.alerts[: room - 1]
    subject = group_subject(n.alerts, group_values(n)) if group_kind(n) == "group" else None
    in_exam = subject is not None and subject[1] == "exam"
    blocks += [alert_block(a, n.rule, t, total, in_exam) for a in shown]
    if len(shown) < total:
        more = f"_and {total - len(shown)} more_"
        blocks.append({"type": "context", "elements": [_mrkdwn(more)]})
    if link:  # the console's own address and a delivery id: a link Slack may make
        text = f"<{slack_escape(link)}|Open in the console>"
        blocks.append({"type": "context", "elements": [_mrkdwn(text)]})

    lines = [_summary(a, n.rule, t, total) for a in n.alerts[:SLACK_FALLBACK_ALERTS]]
    if total > SLACK_FALLBACK_ALERTS:
        lines.append(f"and {total - SLACK_FALLBACK_ALERTS} more")
    if title or grouped:
        lines.insert(0, f"[{rule}] {title or grouped}")
    elif total > 1:
        lines.insert(0, f"[{rule}] {total} alerts")
    # Sent with mrkdwn off: escaping `&<>` is all it takes, and names stay as written.
    fallback = "\n".join(slack_escape(line) for line in lines) or slack_escape(header)
    return cut(fallback, SLACK_MAX_TEXT), blocks


def block_texts(blocks: Sequence[Block]) -> list[str]:
    """The text of each block that has one (header, sections), in order: what a person
    reads of the message first, for previews."""
    texts = []
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            texts.append(str(text["text"]))
    return texts
