"""The admin API as a function of a request, independent of the socket.

`AdminApi.handle` takes a `Request` and returns a `Response`; `server.py` only moves
bytes. Routing, tokens, request counts and injected faults live here; the endpoints
themselves in `endpoints.py`, the request and answer types in `routing.py`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from notifier.sandbox.auth import TokenIssuer
from notifier.sandbox.data import Institute
from notifier.sandbox.endpoints import Endpoints
from notifier.sandbox.faults import FaultInjector
from notifier.sandbox.routing import ROUTES, BadRequest, Request, Response, route

__all__ = ["AdminApi", "BadRequest", "Request", "Response", "route"]

#: The paginated lists whose pages `AdminApi.between_pages` sees.
LISTS = frozenset({"attempts", "content_attempts", "conference"})


class AdminApi(Endpoints):
    """Routes requests, counts them, checks tokens and injects faults."""

    def __init__(self, institute: Institute, issuer: TokenIssuer, password: str) -> None:
        self.institute = institute
        self.issuer = issuer
        self.password = password
        self.faults = FaultInjector()
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._log: list[tuple[float, str, int, str]] = []
        # Called with (endpoint name, page number) after each page of a list is
        # answered: lets a test change the institute between the pages a client reads.
        self.between_pages: Callable[[str, int], None] | None = None
        self.before_answer: Callable[[str], None] | None = None

    def counts(self) -> dict[str, int]:
        with self._count_lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._count_lock:
            self._counts.clear()
            self._log.clear()

    def request_log(self) -> list[tuple[float, str, int, str]]:
        """(time.monotonic() on arrival, endpoint name, status answered, path) of every
        counted request since the last reset, in order: how fast a client really called."""
        with self._count_lock:
            return list(self._log)

    def handle(self, req: Request) -> Response:
        allowed = []
        for method, pattern, name, fn_name in ROUTES:
            m = pattern.match(req.path)
            if m is None:
                continue
            if method != req.method:
                allowed.append(method)
                continue
            req.match = m
            try:
                return self._dispatch(req, name, getattr(self, fn_name))
            except BadRequest as exc:
                return Response(exc.status, exc.body)
            except KeyError:
                return Response(404, {"detail": "Not found."})
        if allowed:
            return Response(405, {"detail": f'Method "{req.method}" not allowed.'})
        return Response(404, {"detail": "Not found."})

    def _dispatch(self, req: Request, name: str, fn: Callable[[Request], Response]) -> Response:
        arrived, status = time.monotonic(), 500
        try:
            before = self.before_answer
            if before is not None and name:
                before(name)
            out = self._answer(req, name, fn)
            status = out.status
            return out
        except BadRequest as exc:
            status = exc.status
            raise
        except KeyError:
            status = 404
            raise
        finally:
            if name:
                with self._count_lock:
                    self._counts[name] += 1
                    self._log.append((arrived, name, status, req.path))
            hook = self.between_pages
            if hook is not None and status == 200 and name in LISTS:
                hook(name, int(dict(req.query).get("page", "1") or 1))

    def _answer(self, req: Request, name: str, fn: Callable[[Request], Response]) -> Response:
        if not req.path.startswith("/api/") or name == "auth":
            return fn(req)
        auth = req.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.upper() != "JWT" or not token.strip():
            return self._unauthorized("Authentication credentials were not provided.")
        problem = self.issuer.check(token.strip())
        if problem:
            return self._unauthorized(problem)
        decision = self.faults.decide()
        if decision.status == 429:
            after = decision.retry_after or 1
            text = f"{after:g}"
            detail = f"Request was throttled. Expected available in {text} seconds."
            return Response(429, {"detail": detail}, {"Retry-After": text})
        if decision.status is not None:
            if decision.status == 500:
                return Response(500, {"detail": "A server error occurred."})
            html = f"<html><body><h1>{decision.status}</h1></body></html>".encode()
            return Response(decision.status, raw=html, headers={"Content-Type": "text/html"})
        out = fn(req)
        out.delay = decision.delay
        if decision.malformed and out.status == 200:
            full = out.payload()
            out.raw = full[: max(1, len(full) // 2)]
        return out

    @staticmethod
    def _unauthorized(detail: str) -> Response:
        return Response(401, {"detail": detail}, {"WWW-Authenticate": 'JWT realm="api"'})
