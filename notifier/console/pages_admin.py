"""`/audit` (every change made through the console, Slack or the command line: who,
when, what) and `/users` (admins: add a user, remove one, change a role). User changes
are written to the audit log like every other change."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from notifier.console.context import Ctx
from notifier.console.passwords import hash_password, password_problem
from notifier.console.routing import Page
from notifier.state.people import ROLES, UserExists

AUDIT_PAGE = 100


def audit_page(ctx: Ctx) -> Response:
    entries = ctx.store.audit.recent(limit=AUDIT_PAGE)
    return ctx.render("audit.html", entries=entries)


def _users(ctx: Ctx, status: int = 200, error: str = "") -> Response:
    users = ctx.store.users.all()
    return ctx.render(
        "users.html",
        status,
        users=users,
        roles=ROLES,
        error=error,
        done=ctx.query.get("done", ""),
        name=ctx.form.get("name", "") if error else "",
    )


def users_page(ctx: Ctx) -> Response:
    return _users(ctx)


def change_user(ctx: Ctx) -> Response:
    action = ctx.form.get("action", "")
    name = ctx.form.get("name", "").strip()
    role = ctx.form.get("role", "")
    now = ctx.console.clock()
    users = ctx.store.users
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        return _users(ctx, 400, "name: one word, at most 100 characters")
    if action in ("add", "role") and role not in ROLES:
        return _users(ctx, 400, f"role: one of {', '.join(ROLES)}")
    if action == "add":
        password = ctx.form.get("password", "")
        problem = password_problem(password)
        if problem:
            return _users(ctx, 400, f"password: {problem}")
        try:
            users.add(name, role, hash_password(password), now)
        except UserExists as exc:
            return _users(ctx, 409, f"name: {exc}")
        detail = f"role {role}"
    elif action == "remove":
        if name == ctx.user:
            return _users(ctx, 400, "name: you cannot remove yourself")
        if not users.remove(name):
            return _users(ctx, 404, f"name: no user {name!r}")
        detail = "their sessions ended"
    elif action == "role":
        if name == ctx.user and role != "admin":
            return _users(ctx, 400, "role: you cannot take your own admin role")
        if not users.set_role(name, role, now):
            return _users(ctx, 404, f"name: no user {name!r}")
        detail = f"role {role}"
    else:
        return _users(ctx, 400, "action: add, remove or role")
    ctx.store.audit.add(ctx.user, "console", f"user.{action}", name, detail, at=now)
    return RedirectResponse(f"/users?done={action}", 303)


PAGES = [
    Page("/audit", audit_page),
    Page("/users", users_page, role="admin"),
    Page("/users", change_user, ("POST",), role="admin"),
]
