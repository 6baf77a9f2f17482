"""The application side of the HTTP server: a Starlette app whose routes call the
notifier's plain, synchronous handlers (`messages.Request` -> `messages.Response`).

Starlette does the routing (an unknown path is its 404), and `build_app` returns a
real Starlette app, so a later route set (the console) is mounted on the same app
with `app.mount(...)` or `app.router.routes.append(...)`. What is written here:

- one endpoint per exact path, holding a handler per method: a known path with
  another method is 405 with a sorted `Allow`, and a GET route answers HEAD (one
  place for it, where Starlette's own 405 lists methods in set order);
- the body bounds, decided from the headers before a byte of the body is read: a
  `Content-Length` over the route's limit is 413, a body without one (chunked) 411,
  and both close the connection so the unread body is never taken for a request;
- handlers run on a bounded thread pool of their own (`Limits.handler_threads`), so
  they may block briefly (a store commit) without holding the event loop, and a
  burst of pushes runs side by side instead of 40 at a time (anyio's default);
- no traceback: Starlette re-raises an application's exception after answering 500,
  for the server to log with its traceback; `QuietErrors` logs one line instead.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifier.web.messages import Handler, Request, Response

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    handler: Handler
    max_body: int


class PathEndpoint:
    """The ASGI app of one exact path: its handler per method."""

    def __init__(self, path: str, threads: anyio.CapacityLimiter):
        self.path = path
        self.methods: dict[str, Route] = {}
        self.threads = threads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = StarletteRequest(scope, receive)
        method = "GET" if incoming.method == "HEAD" else incoming.method
        route = self.methods.get(method)
        if route is None:
            allowed = set(self.methods) | ({"HEAD"} if "GET" in self.methods else set())
            answer = Response(
                405, b"method not allowed\n", headers={"Allow": ", ".join(sorted(allowed))}
            )
            await _send(answer, scope, receive, send, close=_has_body(incoming.headers))
            return
        refusal = _body_refusal(incoming.headers, route.max_body)
        if refusal is not None:
            await _send(refusal, scope, receive, send, close=True)
            return
        try:
            body = await incoming.body()
        except ClientDisconnect:  # gone mid-body (or cut off by the request deadline)
            return
        request = Request(
            method=method,
            path=self.path,
            query=parse_qs(scope.get("query_string", b"").decode("latin-1")),
            headers=dict(incoming.headers.items()),  # uvicorn gives lower-cased names
            body=body,
            client=incoming.client.host if incoming.client else "",
        )
        answer = await anyio.to_thread.run_sync(_call, route.handler, request, limiter=self.threads)
        await _send(answer, scope, receive, send)


def _has_body(headers: Mapping[str, str]) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


def _body_refusal(headers: Mapping[str, str], max_body: int) -> Response | None:
    """Why the body will not be read, from the headers alone; None to read it. h11 has
    already refused a length that is not digits, or two that differ (400)."""
    if "transfer-encoding" in headers:
        return Response.text(411, "a Content-Length is required")
    length = headers.get("content-length", "0")
    if not length.isdigit():
        return Response.text(400, "invalid Content-Length")
    if int(length) > max_body:
        return Response.json(413, {"error": f"body over {max_body} bytes"})
    return None


def _call(handler: Handler, request: Request) -> Response:
    """Run on a worker thread: one handler's bug answers 500 and the server lives on."""
    try:
        return handler(request)
    except Exception as exc:  # noqa: BLE001
        log.error("HTTP handler for %s %s failed: %s", request.method, request.path, _one_line(exc))
        return Response.json(500, {"error": "internal error"})


def _one_line(exc: BaseException) -> str:
    """The exception's type, message and where it was raised: enough to find the bug,
    without a traceback in the log."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    message = str(exc)[:200]
    return f"{type(exc).__name__}{': ' + message if message else ''}{where}"


async def _send(
    answer: Response, scope: Scope, receive: Receive, send: Send, *, close: bool = False
) -> None:
    headers = {"Cache-Control": "no-store", **answer.headers}
    if close:
        headers["Connection"] = "close"
    response = StarletteResponse(answer.body, answer.status, headers, answer.content_type)
    await response(scope, receive, send)


async def _not_found(request: StarletteRequest, exc: Exception) -> StarletteResponse:
    close = _has_body(request.headers)
    headers = {"Cache-Control": "no-store", **({"Connection": "close"} if close else {})}
    body = Response.json(404, {"error": "not found"})
    return StarletteResponse(body.body, 404, headers, body.content_type)


class QuietErrors:
    """The outermost ASGI layer: an exception from the app (a later route set's bug)
    is one log line, and a 500 if nothing was answered yet, never a traceback."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - logged in one line below
            log.error(
                "HTTP %s %s failed: %s", scope.get("method"), scope.get("path"), _one_line(exc)
            )
            if not started and scope["type"] == "http":
                await _send(Response.json(500, {"error": "internal error"}), scope, receive, send)


def build_app() -> Starlette:
    """An app with no routes yet: unknown paths are 404 (JSON), and `/x/` is not
    redirected to `/x` (paths are exact)."""
    app = Starlette(exception_handlers={404: _not_found})
    app.router.redirect_slashes = False
    return app
