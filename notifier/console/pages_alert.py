"""`/alerts/<delivery id>`: one alert: the event's fields, why the rule fired, what each
channel of the rule was sent (the same event's delivery to every channel), each try
with its time, outcome, the receiver's answer and error (`outbox_tries`), who followed
up; and, for editors, the actions: follow up, mute the student or the rule, replay.
Actions post to the page itself and go through `Actions` (source "console"), never to
the store directly."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from starlette.responses import RedirectResponse, Response

from notifier.console.context import Ctx
from notifier.console.routing import Page, not_found
from notifier.console.views import alert_views, sent_text
from notifier.rules.policy import parse_duration
from notifier.state.base import delivery_id
from notifier.state.people import AlertRow

STUDENT_MUTES = ("1d", "7d", "30d")
RULE_MUTES = ("1d", "7d")
DONE = {
    "followed_up": "Followed up.",
    "muted": "Muted.",
    "replayed": "Queued again.",
}


def _siblings(ctx: Ctx, row: AlertRow) -> list[AlertRow]:
    """The same event's delivery to each channel of its rule (this one first)."""
    rule = next((r for r in ctx.console.rules().rules if r.name == row["rule"]), None)
    channels = [row["channel"], *(c for c in (rule.notify if rule else ()) if c != row["channel"])]
    found = []
    for channel in channels:
        sibling = row if channel == row["channel"] else None
        if sibling is None:
            sibling = ctx.store.console.alert(
                delivery_id(row["rule"], row["event"], row["event_key"], channel)
            )
        if sibling is not None:
            found.append(sibling)
    return found


def _group(ctx: Ctx, message: str) -> Response:
    """A grouped message's page (its id is no one row's): the rows it carried."""
    ids = [m.id for m in ctx.store.follow_ups.message_members(message)]
    rows = [row for row in map(ctx.store.console.alert, ids) if row is not None]
    if not rows:
        return not_found(ctx, f"No delivery or sent message {message!r} is kept.")
    ruleset = ctx.console.rules()
    shown = [(row, alert_views(row, ruleset)) for row in rows]
    return ctx.render("group.html", message=message, rows=shown)


def alert_page(ctx: Ctx) -> Response:
    row = ctx.store.console.alert(ctx.params["id"])
    if row is None:
        return _group(ctx, ctx.params["id"])
    ruleset = ctx.console.rules()
    received = [
        (r, sent_text(r, ruleset, ctx.console.public_url), ctx.store.console.tries(r["id"]))
        for r in _siblings(ctx, row)
    ]
    return ctx.render(
        "alert.html",
        row=row,
        views=alert_views(row, ruleset),
        received=received,
        facts=ctx.console.actions.delivery(row["id"]),
        done=DONE.get(ctx.query.get("done", ""), ""),
        student_mutes=STUDENT_MUTES,
        rule_mutes=RULE_MUTES,
    )


def act(ctx: Ctx) -> Response:
    """One action on the alert, by the signed-in editor; back to the page after it."""
    row = ctx.store.console.alert(ctx.params["id"])
    if row is None:
        return not_found(ctx, f"No delivery {ctx.params['id']!r} is kept.")
    actions = ctx.console.actions
    action = ctx.form.get("action", "")
    if action == "follow_up":
        actions.follow_up(row["id"], by=ctx.user, by_name=ctx.user, source="console")
        done = "followed_up"
    elif action in ("mute_student", "mute_rule"):
        what: Literal["student", "rule"] = "student" if action == "mute_student" else "rule"
        allowed = STUDENT_MUTES if what == "student" else RULE_MUTES
        if ctx.form.get("for") not in allowed:
            return ctx.render(
                "error.html", 400, title="Bad request", message=f"for: one of {', '.join(allowed)}"
            )
        actions.mute_delivery(
            row["id"],
            what=what,
            duration=timedelta(seconds=parse_duration(ctx.form["for"])),
            by=ctx.user,
            reason=ctx.form.get("reason", "").strip()[:500],
            source="console",
        )
        done = "muted"
    elif action == "replay":
        result = actions.replay([row["id"]], by=ctx.user, source="console")
        if not result.queued:
            why = f"it is {row['status']}: only dead or muted deliveries are sent again"
            return ctx.render("error.html", 409, title="Not replayed", message=why)
        done = "replayed"
    else:
        return ctx.render("error.html", 400, title="Bad request", message="unknown action")
    return RedirectResponse(f"/alerts/{row['id']}?done={done}", 303)


PAGES = [
    Page("/alerts/{id}", alert_page),
    Page("/alerts/{id}", act, ("POST",), role="editor"),
]
