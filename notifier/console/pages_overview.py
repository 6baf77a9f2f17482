"""`/`: the overview: each source's last poll and error, the outbox by status, dead
deliveries by channel, alerts per hour per rule over the last 7 days (a server-drawn
SVG chart), and the notifier's own open `notifier.health` problems."""

from __future__ import annotations

from typing import TypedDict

from markupsafe import Markup
from starlette.responses import Response

from notifier.console.chart import hourly_chart
from notifier.console.context import Ctx
from notifier.console.routing import Page
from notifier.events import JSONValue
from notifier.sources.health import SCOPE as HEALTH_SCOPE

DAYS = 7


class HealthProblem(TypedDict):
    problem: str
    subject: str
    since: JSONValue  # ISO time, as the monitor keeps it
    detail: JSONValue


def health_problems(ctx: Ctx) -> list[HealthProblem]:
    """The open problems the health monitor keeps in the store (problem, subject,
    since, detail)."""
    state = ctx.store.sources.get_state(HEALTH_SCOPE, "monitor") or {}
    problems: list[HealthProblem] = []
    for key, value in sorted(dict(state.get("open", {})).items()):
        problem, _, subject = str(key).partition("\0")
        problems.append(
            {
                "problem": problem,
                "subject": subject,
                "since": value.get("since", ""),
                "detail": value.get("detail", ""),
            }
        )
    return problems


def overview(ctx: Ctx) -> Response:
    store = ctx.store
    now = ctx.console.clock()
    first_hour = int(now // 3600) - DAYS * 24 + 1
    chart = hourly_chart(store.console.hourly(first_hour * 3600.0), first_hour, DAYS * 24)
    return ctx.render(
        "overview.html",
        sources=store.sources.source_statuses(),
        counts=store.outbox.delivery_counts(),
        dead=store.outbox.dead_by_channel(),
        chart=Markup(chart.svg),  # noqa: S704 - built from numbers and escaped names only
        legend=chart.legend,
        total=chart.total,
        days=DAYS,
        problems=health_problems(ctx),
    )


PAGES = [Page("/", overview)]
