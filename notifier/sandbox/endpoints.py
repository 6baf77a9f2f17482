"""The admin API's endpoints, as the documentation describes them (and real servers answer).

Each is a method of a request returning a `Response`; `@route` files it in the table
`AdminApi.handle` dispatches on. `AdminApi` (api.py) adds routing, tokens, counts and
faults on top.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from notifier.sandbox import render
from notifier.sandbox.auth import TokenIssuer
from notifier.sandbox.content import KINDS, SIDE_LISTS
from notifier.sandbox.data import Institute
from notifier.sandbox.faults import FaultInjector
from notifier.sandbox.routing import BadRequest, Request, Response, route

#: The host that absolute `next` links name: not ours, as in the documentation samples.
FOREIGN_HOST = "https://sandbox.testpress.in"
ATTEMPTS_PAGE, ANSWERS_PAGE, CONTENT_PAGE, CONFERENCE_PAGE = 200, 50, 250, 20


class Endpoints:
    """The endpoint handlers; `AdminApi` gives them the institute and the faults."""

    institute: Institute
    issuer: TokenIssuer
    password: str
    faults: FaultInjector

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
                    if row is not None and KINDS[ca.kind][2] == name:
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
