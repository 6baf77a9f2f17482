"""`/students` (search by name, email or user id) and `/students/<user id>`: a
student's timeline from history: exam and content attempts, live classes and the
alerts about them, with who followed up each."""

from __future__ import annotations

import json
from typing import TypedDict

from starlette.responses import Response

from notifier.console.context import Ctx
from notifier.console.routing import Page, not_found
from notifier.console.views import alert_views
from notifier.events import JSONValue
from notifier.state.people import AlertFilter, TimelineRow

FOUND = 50
TIMELINE = 200
ALERTS = 100


def students(ctx: Ctx) -> Response:
    text = ctx.query.get("q", "").strip()[:200]
    found = ctx.store.console.students(text, FOUND) if text else []
    return ctx.render("students.html", q=text, found=found)


class TimelineEvent(TypedDict):
    """One kept event as the timeline shows it."""

    at: float
    kind: str
    key: str
    title: str
    fields: JSONValue
    fired: JSONValue  # the rules that fired on it ([] when the row keeps none)


def _events(rows: list[TimelineRow]) -> list[TimelineEvent]:
    """History rows (data: [title, fields(, fired rules)]) as the timeline shows them."""
    events: list[TimelineEvent] = []
    for row in rows:
        title, fields, *rest = json.loads(row["data"])
        events.append(
            {
                "at": row["at"],
                "kind": row["kind"],
                "key": row["key"],
                "title": title,
                "fields": fields,
                "fired": rest[0] if rest else [],
            }
        )
    return events


def student(ctx: Ctx) -> Response:
    user_id = ctx.params["user_id"]
    profile = ctx.store.console.student(user_id)
    events = _events(ctx.store.console.timeline(user_id, TIMELINE))
    rows = ctx.store.console.alerts(AlertFilter(student=user_id), limit=ALERTS, offset=0)
    if profile is None and not events and not rows:
        return not_found(ctx, f"No student {user_id!r} in the notifier's history.")
    ruleset = ctx.console.rules()
    actions = ctx.console.actions
    alerts = [
        (
            row,
            alert_views(row, ruleset),
            actions.delivery(row["id"]).followed_up,
        )
        for row in rows
    ]
    return ctx.render(
        "student.html", user_id=user_id, profile=profile or {}, events=events, alerts=alerts
    )


PAGES = [Page("/students", students), Page("/students/{user_id}", student)]
