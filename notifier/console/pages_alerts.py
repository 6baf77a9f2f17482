"""`/alerts`: every alert, newest first, filtered by the query parameters `student`
(a user id or email), `rule`, `channel`, `status`, `since` and `until` (days in the
institute's time zone, `YYYY-MM-DD`; `until` takes the whole day), paged."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from notifier.console.context import Ctx
from notifier.console.routing import Page
from notifier.console.views import alert_views, day_start
from notifier.state.people import AlertFilter

PAGE_SIZE = 50
FILTERS = ("student", "rule", "channel", "status", "since", "until")


def _filter(ctx: Ctx) -> AlertFilter:
    """The filters given; ValueError naming the parameter that is wrong."""
    values = {name: ctx.query.get(name, "").strip() or None for name in FILTERS}
    times: dict[str, float | None] = {}
    for name in ("since", "until"):
        text = values[name]
        try:
            times[name] = day_start(text, ctx.console.zone, end=name == "until") if text else None
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return AlertFilter(
        student=values["student"],
        rule=values["rule"],
        channel=values["channel"],
        status=values["status"],
        since=times["since"],
        until=times["until"],
    )


def alerts(ctx: Ctx) -> Response:
    given = {name: ctx.query.get(name, "") for name in FILTERS}
    try:
        where = _filter(ctx)
        page = max(1, int(ctx.query.get("page", "1") or 1))
    except ValueError as exc:
        message = str(exc) if ":" in str(exc) else "page: not a number"
        return ctx.render("alerts.html", 400, error=message, rows=[], given=given, pager={})
    rows = ctx.store.console.alerts(where, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    ruleset = ctx.console.rules()
    shown = [(row, alert_views(row, ruleset)) for row in rows[:PAGE_SIZE]]
    kept = {k: v for k, v in given.items() if v}
    pager = {
        "page": page,
        "newer": f"/alerts?{urlencode({**kept, 'page': page - 1})}" if page > 1 else None,
        "older": f"/alerts?{urlencode({**kept, 'page': page + 1})}"
        if len(rows) > PAGE_SIZE
        else None,
    }
    return ctx.render("alerts.html", error="", rows=shown, given=given, pager=pager)


PAGES = [Page("/alerts", alerts)]
