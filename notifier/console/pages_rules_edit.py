"""`/rules/edit` (contract section 14, issue 21): a draft of the rules in a textarea with
a line gutter, checked on the server as it is typed (`POST /rules/check`, answered in
JSON, from `static/rules_edit.js`: no inline script under the CSP) and on every button;
Preview (1, 7 or 30 days), Test, Download and, with the rules in the store, Save as a
new version with a note. Editors and admins only (the YAML is not shown to viewers).
Every button is a submit of one form to this page, so the page works without script.

What a draft does is `notifier.drafts` (the same loader, preview and rule tests as the
commands); a save goes in the audit log. Two editors saving at once: the form carries
the version it started from, and the second is told it changed, with the diff.
"""

from __future__ import annotations

import difflib

from starlette.responses import JSONResponse, RedirectResponse, Response

from notifier.console.context import Ctx, drafts
from notifier.console.routing import Page
from notifier.drafts.check import Problem
from notifier.drafts.jsonschema import schema_text
from notifier.drafts.service import DraftService, NoTests
from notifier.drafts.versions import NoteMissing
from notifier.rules.load import RulesError
from notifier.state.rules_base import VersionChanged

# The rules file's JSON Schema, as `notifier schema` prints it: the editor's completion
# (`static/rules_complete.js`) offers the keys and values it allows where the cursor is.
SCHEMA = schema_text().encode("utf-8")
RULES_FORM = 1024 * 1024  # bytes: a rules file, form-encoded
PREVIEW_DAYS = {"preview-1": 1.0, "preview-7": 7.0, "preview-30": 30.0}


def _service(ctx: Ctx) -> DraftService:
    return drafts(ctx)


def _problems(error: RulesError) -> list[Problem]:
    return [Problem(p.line, p.col, p.message) for p in error.problems]


def _render(
    ctx: Ctx, service: DraftService, text: str, status: int = 200, **shown: object
) -> Response:
    current = service.current()
    values: dict[str, object] = {
        "draft": text,
        "lines": max(1, text.count("\n") + 1),
        "current": current,
        "editable": service.editable,
        "base": ctx.form.get("base", "") or (current.number or ""),
        "note": ctx.form.get("note", ""),
        "problems": service.check(text),
        "preview": None,
        "results": None,
        "tests_name": None,
        "message": "",
        "error": "",
        "diff": [],
    }
    values.update(shown)
    return ctx.render("rules_edit.html", status, **values)


def edit_page(ctx: Ctx) -> Response:
    service = _service(ctx)
    saved = ctx.query.get("saved", "")
    message = f"Saved as version {saved}; it is active now." if saved.isdigit() else ""
    return _render(ctx, service, service.current().text, message=message)


def edit_post(ctx: Ctx) -> Response:
    service = _service(ctx)
    text = ctx.form.get("draft", "").replace("\r\n", "\n")
    action = ctx.form.get("action", "check")
    if action == "download":
        return Response(
            text,
            200,
            media_type="application/yaml",
            headers={"Content-Disposition": 'attachment; filename="rules.yaml"'},
        )
    if action in PREVIEW_DAYS:
        try:
            preview = service.preview(text, PREVIEW_DAYS[action])
        except RulesError:
            return _render(ctx, service, text, 400, error="Fix the problems to preview.")
        return _render(ctx, service, text, preview=preview)
    if action == "test":
        try:
            results = service.test(text)
        except NoTests as exc:
            return _render(ctx, service, text, error=f"No rule tests to run: {exc}.")
        except RulesError as exc:
            lines = "; ".join(str(p) for p in exc.problems[:5])
            return _render(ctx, service, text, 400, error=f"The tests cannot run: {lines}")
        found = service.tests()
        return _render(ctx, service, text, results=results, tests_name=found and found[0])
    if action == "save":
        return _save(ctx, service, text)
    return _render(ctx, service, text)


def _save(ctx: Ctx, service: DraftService, text: str) -> Response:
    if not service.editable:
        return _render(ctx, service, text, 409, error="The rules are read from the file here.")
    base = ctx.form.get("base", "")
    try:
        made = service.save(
            text,
            note=ctx.form.get("note", ""),
            by=ctx.user,
            expected_active=int(base) if base.isdigit() else None,
            source="console",
        )
    except NoteMissing as exc:
        return _render(ctx, service, text, 400, error=f"note: {exc}")
    except RulesError:
        return _render(ctx, service, text, 400, error="Not saved: fix the problems first.")
    except VersionChanged as exc:
        started = service.version(exc.expected) if exc.expected else None
        now = service.current()
        diff = list(
            difflib.unified_diff(
                (started.yaml if started else "").splitlines(),
                now.text.splitlines(),
                f"version {exc.expected}",
                f"version {exc.active}",
                lineterm="",
            )
        )
        return _render(ctx, service, text, 409, error=f"Not saved: {exc}.", diff=diff)
    return RedirectResponse(f"/rules/edit?saved={made.number}", 303)


def check_json(ctx: Ctx) -> Response:
    """The draft's problems as JSON, for the editor's check as you type."""
    problems = _service(ctx).check(ctx.form.get("draft", "").replace("\r\n", "\n"))
    return JSONResponse(
        {
            "problems": [
                {"line": p.line, "col": p.col, "message": p.message, "hint": p.hint}
                for p in problems
            ]
        }
    )


def schema_json(ctx: Ctx) -> Response:
    """The rules file's JSON Schema (nothing of this institute's: the same for all)."""
    return Response(SCHEMA, 200, media_type="application/schema+json")


# Editors and admins only: the YAML may hold what a viewer must not read (a Slack
# incoming webhook's URL written in it), as `/rules` does not show the file either.
PAGES = [
    Page("/rules/edit", edit_page, role="editor"),
    Page("/rules/edit", edit_post, ("POST",), role="editor", max_form=RULES_FORM),
    Page("/rules/check", check_json, ("POST",), role="editor", max_form=RULES_FORM),
    Page("/rules/schema.json", schema_json, role="editor"),
]
