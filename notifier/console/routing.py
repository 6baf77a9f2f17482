"""How a console page is served: the plain handler (`Ctx` -> Response) wrapped in an
ASGI endpoint that reads the (small, bounded) form, runs the handler on a worker
thread (a body without a Content-Length, sent in chunks, is refused unread: 411),
and checks, in this order: a session (none: redirect to `/login`), the CSRF
token of a POST (wrong or missing: 403, nothing changed), the role (short: 403).

Handlers run on the console's own pool of threads (`Console.pool`), which live as long
as the console: each keeps its store handle (and `Actions` its own) for good, where
threads that come and go would leave handles behind.

Forms are parsed here (`application/x-www-form-urlencoded`, with the standard library)
rather than by Starlette, which would need another library for it. Every answer
carries the security headers (`SECURITY_HEADERS`): a strict Content-Security-Policy
(only this origin's stylesheet, images and script, the rules editor's file; no inline
script or style), no framing, no sniffing, no caching."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifier.console.auth import csrf_ok, current_session
from notifier.console.context import Console, Ctx

MAX_FORM = 64 * 1024  # bytes: the largest form is a mute's reason
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Handler = Callable[[Ctx], Response]


@dataclass(frozen=True)
class Page:
    path: str
    handler: Handler
    methods: tuple[str, ...] = ("GET",)
    role: str | None = "viewer"  # None: no session needed (the sign-in page)
    max_form: int = MAX_FORM  # bytes of the form (the rules editor's is larger)


def routes(console: Console, pages: list[Page]) -> list[Route]:
    return [Route(p.path, _Endpoint(console, p), methods=list(p.methods)) for p in pages]


class _Endpoint:
    """The ASGI app of one page (an object, so Starlette passes it the raw ASGI call)."""

    def __init__(self, console: Console, page: Page):
        self.console = console
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if "transfer-encoding" in request.headers:  # no length to check: never read it
            await PlainTextResponse("a Content-Length is required", 411)(scope, receive, send)
            return
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > self.page.max_form:
            await PlainTextResponse("form too large", 413)(scope, receive, send)
            return
        body = await request.body() if request.method == "POST" else b""
        ctx = Ctx(
            console=self.console,
            method=request.method,
            path=request.url.path,
            query=dict(parse_qsl(request.url.query)),
            form=dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)),
            params={k: str(v) for k, v in request.path_params.items()},
            client=request.client.host if request.client else "",
            cookies=request.cookies,
        )
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(self.console.pool, _guarded, self.page, ctx)
        await answer(scope, receive, send)


def _guarded(page: Page, ctx: Ctx) -> Response:
    if page.role is not None:
        ctx.session = current_session(ctx)
        if ctx.session is None:
            target = ctx.path if ctx.method == "GET" else "/"
            return RedirectResponse(f"/login?next={quote(target, safe='/')}", 303)
    if ctx.method == "POST" and not csrf_ok(ctx):
        return forbidden(ctx, "This form is missing its security token, or it has expired.")
    if page.role is not None and not ctx.may(page.role):
        return forbidden(ctx, f"Your role may not do this here (it needs {page.role}).")
    return page.handler(ctx)


def forbidden(ctx: Ctx, why: str) -> Response:
    return ctx.render("error.html", 403, title="Not allowed", message=why)


def not_found(ctx: Ctx, what: str) -> Response:
    return ctx.render("error.html", 404, title="Not found", message=what)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every answer of the console app."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() != "cache-control"
                ]
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
