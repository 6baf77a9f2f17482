"""`/_sandbox/` control endpoints: steer a sandbox that runs in another process.

They need no token, are never counted and never meet faults, so a benchmark or a
subprocess test can read counts, set faults and make students act between cycles.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from notifier.sandbox import webhooks
from notifier.sandbox.api import AdminApi, BadRequest, Request, Response, route
from notifier.sandbox.faults import FaultConfig
from notifier.sandbox.past import seed_past
from notifier.sandbox.scenarios import MassEnding


def _when(data: dict[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise BadRequest(400, {key: ["Enter a valid ISO 8601 time."]}) from None


class SandboxApi(AdminApi):
    """The admin API plus the control endpoints."""

    session: MassEnding | None = None

    @route("POST", r"/_sandbox/clock", "")
    def clock(self, req: Request) -> Response:
        """{"offset_seconds"}: the institute's clock ahead of this machine's (or behind)."""
        self.institute.clock_offset = float(req.json().get("offset_seconds", 0))
        return Response(200, {"offset_seconds": self.institute.clock_offset})

    @route("POST", r"/_sandbox/exam-session", "")
    def exam_session(self, req: Request) -> Response:
        """{"students", "started_minutes_ago"?, "fail_share"?} -> {"exam_id", "attempts"}:
        seats a mass exam (see notifier.sandbox.scenarios); all are Running."""
        data = req.json()
        if self.session is not None:
            self.session.stop()
        self.session = MassEnding(
            self.institute,
            int(data.get("students", 1000)),
            started_minutes_ago=float(data.get("started_minutes_ago", 90)),
            fail_share=float(data.get("fail_share", 0.3)),
        )
        return Response(200, {"exam_id": self.session.exam_id, "attempts": self.session.attempts})

    @route("POST", r"/_sandbox/exam-session/finish", "")
    def exam_session_finish(self, req: Request) -> Response:
        """{"seconds"}: every student of the session finishes within `seconds`."""
        if self.session is None:
            raise BadRequest(400, {"detail": "no exam session"})
        self.session.finish(float(req.json().get("seconds", 120)))
        return Response(200, {"ok": True})

    @route("GET", r"/_sandbox/exam-session", "")
    def exam_session_state(self, req: Request) -> Response:
        """{"done", "completed": {attempt id: unix time just before it completed},
        "failed": [ids completed as Fail]}."""
        if self.session is None:
            raise BadRequest(400, {"detail": "no exam session"})
        completed, failed = self.session.completions()
        times = {str(k): v for k, v in completed.items()}
        return Response(
            200, {"done": self.session.done, "completed": times, "failed": sorted(failed)}
        )

    @route("GET", r"/_sandbox/stats", "")
    def stats(self, req: Request) -> Response:
        return Response(200, self.counts())

    @route("POST", r"/_sandbox/reset-counts", "")
    def reset(self, req: Request) -> Response:
        self.reset_counts()
        return Response(200, {"ok": True})

    @route("GET", r"/_sandbox/faults", "")
    def get_faults(self, req: Request) -> Response:
        return Response(200, self.faults.config.as_json())

    @route("POST", r"/_sandbox/faults", "")
    def set_faults(self, req: Request) -> Response:
        try:
            config = FaultConfig.from_json(req.json())
        except (TypeError, ValueError) as exc:
            raise BadRequest(400, {"detail": str(exc)}) from None
        self.faults.replace(config)
        return Response(200, config.as_json())

    @route("POST", r"/_sandbox/expire-tokens", "")
    def expire(self, req: Request) -> Response:
        self.issuer.expire_all()
        return Response(200, {"ok": True})

    @route("POST", r"/_sandbox/attempts", "")
    def start(self, req: Request) -> Response:
        """{"exam_id", "user_id", "started_at"?} -> {"id"}; ids default to the first ones."""
        data = req.json()
        inst = self.institute
        with inst.lock:
            exam_id = int(data.get("exam_id") or min(inst.exams))
            user_id = int(data.get("user_id") or min(inst.users))
            aid = inst.start_attempt(exam_id, user_id, _when(data, "started_at"))
        return Response(201, {"id": aid})

    @route("POST", r"/_sandbox/attempts/(\d+)/complete", "")
    def complete(self, req: Request) -> Response:
        """{result?, score?, percentage?, percentile?, completed_at?, guesser?} -> {"id"}."""
        data = req.json()
        assert req.match is not None
        aid = int(req.match.group(1))
        try:
            self.institute.complete_attempt(
                aid,
                result=data.get("result"),
                score=data.get("score"),
                percentage=data.get("percentage"),
                percentile=data.get("percentile"),
                completed_at=_when(data, "completed_at"),
                guesser=data.get("guesser"),
            )
        except TypeError as exc:
            raise BadRequest(400, {"detail": str(exc)}) from None
        return Response(200, {"id": aid})

    @route("POST", r"/_sandbox/content-history", "")
    def content_history(self, req: Request) -> Response:
        """{"n", "hours_ago"?}: `n` videos watched to the end over the last `hours_ago`
        hours (default 12) -> {"content_attempts": total now}."""
        data = req.json()
        n, hours = int(data.get("n", 0)), float(data.get("hours_ago", 12))
        inst = self.institute
        with inst.lock:
            users = list(inst.users)
            first = inst.now() - timedelta(hours=hours)
            for i in range(n):
                at = first + timedelta(seconds=hours * 3600 * i / max(1, n))
                ca = inst.add_content_attempt(users[i % len(users)], "video", created=at)
                inst.complete_content_attempt(ca, completed_at=at + timedelta(seconds=1))
            return Response(200, {"content_attempts": len(inst.content_attempts)})

    @route("POST", r"/_sandbox/history", "")
    def history(self, req: Request) -> Response:
        """{"n", "days_ago_min"?, "days_ago_max"?} -> {"attempts": total now}."""
        data = req.json()
        self.institute.seed_history(
            int(data.get("n", 0)),
            days_ago_min=float(data.get("days_ago_min", 2)),
            days_ago_max=float(data.get("days_ago_max", 30)),
        )
        return Response(200, {"attempts": len(self.institute.attempts)})

    @route("POST", r"/_sandbox/past", "")
    def past(self, req: Request) -> Response:
        """{"students"?, "attempts"?, "contents"?, "days"?}: more students, and completed
        exam and content attempts spread over the last `days` days (default 30) ->
        {"users", "attempts", "content_attempts"}: the totals now."""
        data = req.json()
        totals = seed_past(
            self.institute,
            students=int(data.get("students", 0)),
            attempts=int(data.get("attempts", 0)),
            contents=int(data.get("contents", 0)),
            days=float(data.get("days", 30)),
        )
        return Response(200, totals)

    @route("GET", r"/_sandbox/webhooks/exam/(\d+)", "")
    def exam_webhook(self, req: Request) -> Response:
        """The exam webhook Testpress would send for the attempt as it is now, signed
        with the sandbox's keys: a benchmark posts it itself and times the post."""
        assert req.match is not None
        aid = int(req.match.group(1))
        if aid not in self.institute.attempts:
            raise BadRequest(404, {"detail": "Not found."})
        payload = webhooks.exam_payload(self.institute, aid)
        return Response(200, webhooks.sign_exam(payload, webhooks.PUBLIC_KEY, webhooks.PRIVATE_KEY))
