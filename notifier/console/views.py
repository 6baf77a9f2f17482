"""Outbox rows as the pages show them: each alert said in words with why its rule
fired (the same words the message gives: `notifier.delivery.describe`), the student
it is about, and what a channel was sent, rendered again as the render stage renders
it (with the rule's templates in force now)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifier.channels import CHANNEL_TYPES
from notifier.channels.base import (
    Alert,
    ConsoleLine,
    MailMessage,
    Message,
    SlackMessage,
    WebhookMessage,
)
from notifier.delivery.describe import said, student_label
from notifier.delivery.render import render_message
from notifier.delivery.stages import to_notification
from notifier.events import FieldValue, Reason
from notifier.rules.schema import RuleSet
from notifier.rules.templates import TemplateTable
from notifier.state.base import outbox_row
from notifier.state.people import AlertRow


@dataclass(frozen=True)
class AlertView:
    event: str
    key: str
    data: dict[str, FieldValue]
    sentence: str
    why: tuple[str, ...]
    student: str
    user_id: str | None


def alert_views(row: AlertRow, ruleset: RuleSet | None = None) -> list[AlertView]:
    templates = TemplateTable.of(ruleset.rules).get(row["rule"]) if ruleset else None
    views = []
    for raw in json.loads(row["alerts"]):
        alert = Alert(
            event=raw["event"],
            key=str(raw["key"]),
            data=raw.get("data", {}),
            reasons=tuple(Reason.from_dict(r) for r in raw.get("reasons", [])),
        )
        d = said(alert, row["rule"], templates)
        user_id = alert.data.get("user_id")
        views.append(
            AlertView(
                event=alert.event,
                key=alert.key,
                data=alert.data,
                sentence=d.sentence(),
                why=d.why,
                student=student_label(alert.data),
                user_id=None if user_id is None else str(user_id),
            )
        )
    return views


def sent_text(row: AlertRow, ruleset: RuleSet, console_url: str | None) -> str | None:
    """What the row's channel was sent (rendered again), or None when the channel is no
    longer in the rules."""
    channel = ruleset.channels.get(row["channel"])
    if channel is None or channel.type not in CHANNEL_TYPES:
        return None
    kind = CHANNEL_TYPES[channel.type].sender.message_type
    templates = TemplateTable.of(ruleset.rules).get(row["rule"])
    message = render_message(kind, to_notification(outbox_row(row)), templates, console_url)
    return message_text(message)


def message_text(message: Message) -> str:
    if isinstance(message, SlackMessage):
        blocks = json.dumps(message.blocks, indent=2, ensure_ascii=False)
        return f"text: {message.text}\n\nblocks: {blocks}"
    if isinstance(message, MailMessage):
        return f"Subject: {message.subject}\n\n{message.text}"
    if isinstance(message, WebhookMessage):
        return json.dumps(message.body, indent=2, ensure_ascii=False)
    if isinstance(message, ConsoleLine):
        return message.text
    return repr(message)


def day_start(text: str, zone: ZoneInfo, *, end: bool = False) -> float:
    """`YYYY-MM-DD` (a day in the institute's time zone) or an ISO time -> Unix seconds;
    with `end`, a bare day means the end of that day. ValueError says what is wrong."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date()
            moment = datetime.combine(day, time(), zone) + (
                timedelta(days=1) if end else timedelta()
            )
        else:
            moment = datetime.fromisoformat(text)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    return moment.timestamp()
