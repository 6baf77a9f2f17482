"""`/rules` (read-only; editing is the next issue): the rules in force, each with its
event and channels, and its matches and deliveries over the last 7 days; the rules
that are disabled; the channels by type. The file itself is not shown: a channel's
address (a Slack incoming webhook's URL) may be a secret written in it."""

from __future__ import annotations

from starlette.responses import Response

from notifier.console.context import Ctx
from notifier.console.routing import Page

DAYS = 7


def rules_page(ctx: Ctx) -> Response:
    ruleset = ctx.console.rules()
    counts = ctx.store.console.rule_counts(ctx.console.clock() - DAYS * 86400)
    empty = {"matches": 0, "deliveries": 0, "sent": 0, "dead": 0}
    return ctx.render(
        "rules.html",
        ruleset=ruleset,
        rules=[(rule, counts.get(rule.name, empty)) for rule in ruleset.rules],
        days=DAYS,
    )


PAGES = [Page("/rules", rules_page)]
