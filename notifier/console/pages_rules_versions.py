"""`/rules/versions` and `/rules/versions/<n>` (contract section 14): the versions of the
rules kept in the store (number, author, time, note, which is active, the alerts raised
while it was), one version's YAML (`?against=<m>`: its diff from version m), and, for
editors, "make active": its YAML saved as the new active version (a
revert, in the audit log), if it still loads here."""

from __future__ import annotations

import difflib

from starlette.responses import RedirectResponse, Response

from notifier.console.context import Ctx, drafts
from notifier.console.routing import Page, not_found
from notifier.drafts.service import ReadOnly
from notifier.drafts.versions import UnknownVersion
from notifier.rules.load import RulesError
from notifier.state.rules_base import VersionChanged


def versions_page(ctx: Ctx) -> Response:
    service = drafts(ctx)
    versions = service.versions()
    return ctx.render(
        "rules_versions.html",
        editable=service.editable,
        versions=versions,
        alerts=service.alerts_by_version(versions),
        current=service.current(),
    )


def _number(ctx: Ctx) -> int | None:
    raw = ctx.params.get("number", "")
    return int(raw) if raw.isdigit() else None


def version_page(ctx: Ctx, status: int = 200, error: str = "") -> Response:
    service = drafts(ctx)
    number = _number(ctx)
    try:
        if number is None or not service.editable:
            raise UnknownVersion(number or 0)
        found = service.version(number)
    except UnknownVersion:
        return not_found(ctx, f"There is no rules version {ctx.params.get('number', '')}.")
    active = service.current().number
    against = ctx.query.get("against", "")
    other = None
    if against.isdigit():
        try:
            other = service.version(int(against))
        except UnknownVersion:
            return not_found(ctx, f"There is no rules version {against} to compare with.")
    diff = (
        list(
            difflib.unified_diff(
                other.yaml.splitlines(),
                found.yaml.splitlines(),
                f"version {other.number}",
                f"version {found.number}",
                lineterm="",
            )
        )
        if other is not None
        else []
    )
    return ctx.render(
        "rules_version.html",
        status,
        version=found,
        active=active,
        error=error,
        other=other,
        diff=diff,
        numbers=[v.number for v in service.versions() if v.number != found.number],
    )


def make_active(ctx: Ctx) -> Response:
    service = drafts(ctx)
    number = _number(ctx)
    if number is None:
        return not_found(ctx, "There is no such rules version.")
    base = ctx.form.get("base", "")
    try:
        made = service.revert(
            number,
            by=ctx.user,
            expected_active=int(base) if base.isdigit() else None,
            source="console",
        )
    except UnknownVersion:
        return not_found(ctx, f"There is no rules version {number}.")
    except ReadOnly as exc:
        return version_page(ctx, 409, str(exc))
    except RulesError as exc:
        lines = "; ".join(str(p) for p in exc.problems[:5])
        return version_page(ctx, 400, f"Not made active: it does not load here: {lines}")
    except VersionChanged as exc:
        return version_page(ctx, 409, f"Not made active: {exc}.")
    return RedirectResponse(f"/rules/edit?saved={made.number}", 303)


# The list is for everyone; a version's YAML (which may hold a secret written in it) and
# making one active are for editors and admins.
PAGES = [
    Page("/rules/versions", versions_page),
    Page("/rules/versions/{number}", version_page, role="editor"),
    Page("/rules/versions/{number}", make_active, ("POST",), role="editor"),
]
