"""`/mutes`: the mutes in force and those ended in the last 7 days; editors add one
(`POST /mutes` with `student`, `rule`, `channel`, `for`, `reason`) or lift one
(`POST /mutes` with `lift`, the mute's id). Both through `Actions` (source "console")."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import RedirectResponse, Response

from notifier.console.context import Ctx
from notifier.console.routing import Page
from notifier.rules.policy import parse_duration

ENDED_DAYS = 7
FIELDS = ("student", "rule", "channel", "for", "reason")


def _page(ctx: Ctx, status: int = 200, error: str = "") -> Response:
    mutes = ctx.console.actions.mutes(include_ended_days=ENDED_DAYS)
    rules = sorted(r.name for r in ctx.console.rules().rules)
    channels = sorted(ctx.console.rules().channels)
    given = {name: ctx.form.get(name, "") if error else "" for name in FIELDS}
    return ctx.render(
        "mutes.html",
        status,
        active=[m for m in mutes if m.ended_at is None and m.active],
        ended=[m for m in mutes if not (m.ended_at is None and m.active)],
        rules=rules,
        channels=channels,
        error=error,
        given=given,
        done=ctx.query.get("done", ""),
    )


def mutes_page(ctx: Ctx) -> Response:
    return _page(ctx)


def change(ctx: Ctx) -> Response:
    actions = ctx.console.actions
    lift = ctx.form.get("lift", "").strip()
    if lift:
        try:
            actions.unmute(lift, by=ctx.user, source="console")
        except LookupError:
            return _page(ctx, 404, f"lift: no mute {lift!r}")
        return RedirectResponse("/mutes?done=lifted", 303)
    student = ctx.form.get("student", "").strip() or None
    rule = ctx.form.get("rule", "").strip() or None
    channel = ctx.form.get("channel", "").strip() or None
    if student is None and rule is None:
        return _page(ctx, 400, "student, rule: give a student, a rule, or both")
    if student is not None and not (student.isdigit() or "@" in student):
        return _page(ctx, 400, "student: a user id or an email (a name would match nothing)")
    if rule is not None and rule not in {r.name for r in ctx.console.rules().rules}:
        return _page(ctx, 400, f"rule: no rule named {rule!r} is in force")
    if channel is not None and channel not in ctx.console.rules().channels:
        return _page(ctx, 400, f"channel: no channel named {channel!r}")
    try:
        seconds = parse_duration(ctx.form.get("for", "").strip())
    except ValueError as exc:
        return _page(ctx, 400, f"for: {exc}")
    if seconds <= 0:
        return _page(ctx, 400, "for: a mute lasts some time, e.g. 12h or 7d")
    try:
        actions.mute(
            student=student,
            rule=rule,
            channel=channel,
            duration=timedelta(seconds=seconds),
            by=ctx.user,
            reason=ctx.form.get("reason", "").strip()[:500],
            source="console",
        )
    except ValueError as exc:  # what Actions refuses (e.g. longer than it allows)
        return _page(ctx, 400, f"for: {exc}" if "days" in str(exc) else str(exc))
    return RedirectResponse("/mutes?done=muted", 303)


PAGES = [Page("/mutes", mutes_page), Page("/mutes", change, ("POST",), role="editor")]
