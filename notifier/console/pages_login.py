"""`/login` and `/logout`: signing in (slowed after failures, per name and address) and
out."""

from __future__ import annotations

import math

from starlette.responses import RedirectResponse, Response

from notifier.console.auth import (
    IDLE_SECONDS,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    current_session,
    new_login_token,
    set_cookie,
    sign_in,
    sign_out,
)
from notifier.console.context import Ctx
from notifier.console.routing import Page


def _next(ctx: Ctx) -> str:
    """Where to go after signing in: a path of this console only (never `//host`)."""
    target = ctx.form.get("next") or ctx.query.get("next") or "/"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _form(ctx: Ctx, status: int = 200, error: str = "", name: str = "") -> Response:
    token = new_login_token()
    response = ctx.render(
        "login.html", status, login_csrf=token, error=error, name=name, next=_next(ctx)
    )
    set_cookie(ctx, response, LOGIN_COOKIE, token, 3600)
    return response


def login_page(ctx: Ctx) -> Response:
    if current_session(ctx) is not None:
        return RedirectResponse(_next(ctx), 303)
    return _form(ctx)


def login(ctx: Ctx) -> Response:
    name = ctx.form.get("name", "").strip()
    password = ctx.form.get("password", "")
    throttle = ctx.console.throttle
    wait = throttle.wait(name, ctx.client)
    if wait > 0:
        seconds = math.ceil(wait)
        response = _form(
            ctx, 429, f"Too many failed sign-ins: try again in {seconds} s.", name=name
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    token = sign_in(ctx, name, password) if name and password else None
    if token is None:
        throttle.failed(name, ctx.client)
        return _form(ctx, 401, "Wrong name or password.", name=name)
    throttle.succeeded(name, ctx.client)
    response = RedirectResponse(_next(ctx), 303)
    set_cookie(ctx, response, SESSION_COOKIE, token, int(IDLE_SECONDS))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


def logout_page(ctx: Ctx) -> Response:
    return ctx.render("logout.html")


def logout(ctx: Ctx) -> Response:
    sign_out(ctx)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


PAGES = [
    Page("/login", login_page, role=None),
    Page("/login", login, ("POST",), role=None),
    Page("/logout", logout_page),
    Page("/logout", logout, ("POST",)),
]
