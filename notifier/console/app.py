"""The console's ASGI app: a Starlette app of the pages (one module per page, each with
its `PAGES`), the package's stylesheet at `/static/console.css`, and the security
headers on every answer.

The composition root (`runtime/compose.py`) serves it on `NOTIFIER_CONSOLE_ADDR`
through an `HttpServer` of its own (the socket bound up front, uvicorn's h11 protocol
hardened for untrusted clients, a thread of its own), mounted at the root of that
server's app: a listener apart from `NOTIFIER_HTTP_ADDR`, so the webhook port can face
the internet while the console stays on a private network.
"""

from __future__ import annotations

from importlib import resources

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from notifier.console import (
    pages_admin,
    pages_alert,
    pages_alerts,
    pages_login,
    pages_mutes,
    pages_overview,
    pages_rules,
    pages_rules_edit,
    pages_rules_versions,
    pages_students,
)
from notifier.console.context import Console
from notifier.console.routing import SecurityHeaders, routes

PAGE_MODULES = (
    pages_login,
    pages_overview,
    pages_alert,
    pages_alerts,
    pages_students,
    pages_mutes,
    pages_rules,
    pages_rules_edit,
    pages_rules_versions,
    pages_admin,
)
STYLESHEET = resources.files("notifier.console").joinpath("static/console.css").read_bytes()
# The rules editor's script (a gutter, and the check as you type): a file of this origin,
# the only script the Content-Security-Policy lets run.
EDITOR_JS = resources.files("notifier.console").joinpath("static/rules_edit.js").read_bytes()
# Its completion from the rules file's JSON Schema (`/rules/schema.json`).
COMPLETE_JS = resources.files("notifier.console").joinpath("static/rules_complete.js").read_bytes()


def templates() -> jinja2.Environment:
    """The package's page templates, every value escaped (autoescape on)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("notifier.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _stylesheet(request: Request) -> Response:
    return Response(STYLESHEET, 200, media_type="text/css")


def _editor_js(request: Request) -> Response:
    return Response(EDITOR_JS, 200, media_type="text/javascript")


def _complete_js(request: Request) -> Response:
    return Response(COMPLETE_JS, 200, media_type="text/javascript")


def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("not found", 404)


def console_app(console: Console) -> SecurityHeaders:
    pages = [page for module in PAGE_MODULES for page in module.PAGES]
    app = Starlette(
        routes=[
            *routes(console, pages),
            Route("/static/console.css", _stylesheet),
            Route("/static/rules_edit.js", _editor_js),
            Route("/static/rules_complete.js", _complete_js),
        ],
        exception_handlers={404: _not_found},
    )
    app.router.redirect_slashes = False
    return SecurityHeaders(app)
