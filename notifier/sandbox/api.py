"""The admin API's endpoints as plain functions of a request, independent of the socket.

`AdminApi.handle` takes (method, path, query, headers, body) and returns a
`Response`; `server.py` only moves bytes. Keeping the two apart lets the HTTP layer
stay small and keeps every endpoint's behaviour in one readable place.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from notifier.sandbox import render
from notifier.sandbox.auth import TokenIssuer
from notifier.sandbox.content import SIDE_LISTS
from notifier.sandbox.data import Institute
from notifier.sandbox.faults import FaultInjector

#: The host that absolute `next` links name: not ours, as in the documentation samples.
FOREIGN_HOST = "https://sandbox.testpress.in"
ATTEMPTS_PAGE, ANSWERS_PAGE, CONTENT_PAGE, CONFERENCE_PAGE = 200, 50, 250, 20
#: The paginated lists whose pages `AdminApi.between_pages` sees.
LISTS = frozenset({"attempts", "content_attempts", "conference"})


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    delay: float = 0.0

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, separators=(",", ":")).encode()


class BadRequest(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    base: str
    match: re.Match[str] | None = None

    def ints(self, name: str) -> set[int]:
        out = set()
        for key, value in self.query:
            if key == name:
                for part in filter(None, value.split(",")):
                    try:
                        out.add(int(part))
                    except ValueError:
                        raise BadRequest(400, {name: ["Enter a whole number."]}) from None
        return out

    def one_int(self, name: str) -> int | None:
        values = self.ints(name)
        return min(values) if values else None

    def day(self, name: str) -> date | None:
        value = dict(self.query).get(name)
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise BadRequest(400, {name: ["Enter a valid date."]}) from None

    def page(self) -> int:
        value = dict(self.query).get("page", "1")
        if not value.isdigit() or int(value) < 1:
            raise BadRequest(404, {"detail": "Invalid page."})
        return int(value)

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            raise BadRequest(400, {"detail": "JSON parse error."}) from None
        if not isinstance(data, dict):
            raise BadRequest(400, {"detail": "Expected a JSON object."})
        return data


Handler = Callable[[Any, Request], Response]
ROUTES: list[tuple[str, re.Pattern[str], str, str]] = []


def route(method: str, pattern: str, name: str) -> Callable[[Handler], Handler]:
    """Register an endpoint; `name` is its key in the request counts ("" = not counted)."""

    def register(fn: Handler) -> Handler:
        ROUTES.append((method, re.compile(pattern + r"\Z"), name, fn.__name__))
        return fn

    return register


class AdminApi:
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

    # -- helpers -----------------------------------------------------------------------------

    def _envelope(self, req: Request, count: int, page: int, per_page: int, results: Any) -> Any:
        """DRF's page envelope; odd pages link relatively, even pages absolutely to
        another host, so a client must keep its own base URL."""
        params = [(k, v) for k, v in req.query if k != "page"]
        prefix = "" if page % 2 else FOREIGN_HOST

        def link(n: int) -> str:
            query = urlencode(params + ([("page", str(n))] if n > 1 else []))
            return f"{prefix}{req.path}" + (f"?{query}" if query else "")

        last = max(1, -(-count // per_page))
        return {
            "count": count,
            "next": link(page + 1) if page < last else None,
            "previous": link(page - 1) if page > 1 else None,
            "per_page": per_page,
            "results": results,
        }

    @staticmethod
    def _check_page(page: int, count: int, per_page: int) -> None:
        if page > 1 and (page - 1) * per_page >= count:
            raise BadRequest(404, {"detail": "Invalid page."})

    # -- auth ----------------------------------------------------------------------------------

    @route("POST", r"/api/v2\.[25]/auth-token/", "auth")
    def login(self, req: Request) -> Response:
        data = req.json()
        if data.get("username") == self.issuer.username and data.get("password") == self.password:
            return Response(200, {"token": self.issuer.issue()})
        return Response(400, {"non_field_errors": ["Unable to log in with provided credentials."]})

    # -- exam attempts ---------------------------------------------------------------------------

    @route("GET", r"/api/v2\.5/admin/attempts/", "attempts")
    def attempts(self, req: Request) -> Response:
        page = req.page()
        inst = self.institute
        with inst.lock:
            count, rows = inst.query_attempts(
                state=req.one_int("state"), date_0=req.day("date_0"), date_1=req.day("date_1"),
                exams=req.ints("exams"), users=req.ints("users"),
                ordering=dict(req.query).get("ordering"),
                offset=(page - 1) * ATTEMPTS_PAGE, limit=ATTEMPTS_PAGE,
            )  # fmt: skip
            self._check_page(page, count, ATTEMPTS_PAGE)
            now = inst.now()
            records = [
                self.faults.spoil(render.attempt_record(inst, a, req.base, now)) for a in rows
            ]
        return Response(200, self._envelope(req, count, page, ATTEMPTS_PAGE, records))

    @route("GET", r"/api/v2\.5/admin/attempts/(\d+)/", "attempt")
    def attempt(self, req: Request) -> Response:
        inst = self.institute
        with inst.lock:
            a = inst.attempts[int(self._arg(req))]
            body = render.attempt_detail(inst, a, req.base, inst.now())
        return Response(200, self.faults.spoil(body))

    @route("GET", r"/api/v3/admin/attempts/(\d+)/user_answers/", "user_answers")
    def user_answers(self, req: Request) -> Response:
        page = req.page()
        inst = self.institute
        with inst.lock:
            pairs = render.user_answer_rows(inst, inst.attempts[int(self._arg(req))])
        self._check_page(page, len(pairs), ANSWERS_PAGE)
        chunk = pairs[(page - 1) * ANSWERS_PAGE : page * ANSWERS_PAGE]
        results = {"user_answers": [a for a, _ in chunk], "exam_questions": [q for _, q in chunk]}
        return Response(200, self._envelope(req, len(pairs), page, ANSWERS_PAGE, results))

    @route("GET", r"/api/v2\.5/admin/exams/(\d+)/", "exams")
    def exam(self, req: Request) -> Response:
        with self.institute.lock:
            return Response(200, self.institute.exams[int(self._arg(req))].as_json())

    @route("GET", r"/api/v2\.5/admin/users/(\d+)/", "users")
    def user(self, req: Request) -> Response:
        with self.institute.lock:
            return Response(200, self.institute.users[int(self._arg(req))].as_json())

    @staticmethod
    def _arg(req: Request) -> str:
        assert req.match is not None
        return req.match.group(1)

    # -- chapter contents and live classes -------------------------------------------------------

    @route("GET", r"/api/v3/admin/chapter-content-attempts/", "content_attempts")
    def content_attempts(self, req: Request) -> Response:
        page = req.page()
        inst = self.institute
        names = ("user_ids", "course_ids", "chapter_ids", "chapter_content_ids", "exam_id")
        with inst.lock:
            count, rows = inst.query_content_attempts(
                filters={name: req.ints(name) for name in names},
                content_type=req.one_int("content_type"), state=req.one_int("state"),
                completed_after=req.day("completed_after"),
                completed_before=req.day("completed_before"),
                completed_date=req.day("completed_date"),
                offset=(page - 1) * CONTENT_PAGE, limit=CONTENT_PAGE,
            )  # fmt: skip
            self._check_page(page, count, CONTENT_PAGE)
            results: dict[str, list[Any]] = {"content_attempts": [], "users": [], "courses": []}
            results.update({name: [] for name in SIDE_LISTS})
            results["chapter_contents"] = []
            seen: set[tuple[str, int]] = set()

            def side(name: str, key: int, row: Any) -> None:
                if row is not None and (name, key) not in seen:
                    seen.add((name, key))
                    results[name].append(row)

            for ca in rows:
                cc = inst.chapter_contents[ca.chapter_content_id]
                rendered = render.content_attempt(ca, cc)
                results["content_attempts"].append(self.faults.spoil(rendered))
                user = inst.users.get(ca.user_id)
                side("users", ca.user_id, user.as_json() if user else None)
                side("courses", cc["course_id"], inst.courses.get(cc["course_id"]))
                side("chapter_contents", cc["id"], cc)
                for name in SIDE_LISTS:
                    row = inst.side[name].get(ca.link_id or 0)
                    if row is not None and render.KINDS[ca.kind][2] == name:
                        side(name, row["id"], row)
            body = self._envelope(req, count, page, CONTENT_PAGE, results)
            return Response(200, json.loads(json.dumps(body)))

    @route("GET", r"/api/v3/admin/attempts/(\d+)/video-conference/", "conference")
    def conference(self, req: Request) -> Response:
        page = req.page()
        inst = self.institute
        with inst.lock:
            rows = [render.attendance_row(r) for r in inst.conferences[int(self._arg(req))].rows]
            if inst.list_order == "newest-first":
                rows.reverse()
        self._check_page(page, len(rows), CONFERENCE_PAGE)
        chunk = rows[(page - 1) * CONFERENCE_PAGE : page * CONFERENCE_PAGE]
        chunk = [self.faults.spoil(r) for r in chunk]
        return Response(200, self._envelope(req, len(rows), page, CONFERENCE_PAGE, chunk))
