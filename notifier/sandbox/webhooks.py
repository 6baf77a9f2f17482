"""The institute's own webhooks, sent as Testpress sends them (`--push-to URL`).

When an exam attempt starts or completes, Testpress POSTs the exam webhook; when a
chapter-content attempt changes state, the chapter-content webhook (payloads in
testpress-api-notes.md, "Testpress's own webhooks"). `Pusher` renders each payload at
the moment of the change, signs it, and posts it from a background thread to
`<URL>/webhooks/testpress/exam` or `<URL>/webhooks/testpress/chapter-content`, once
(nothing says Testpress retries; only a kept-alive connection found closed is
reopened for the same post).

The hash is computed here, from the notes, and not with the notifier's verifier: the
sandbox never imports `notifier.testpress`, so a test that passes proves the two agree.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from notifier.sandbox import render
from notifier.sandbox.data import Institute
from notifier.sandbox.model import fmt_time

log = logging.getLogger(__name__)

#: The sandbox institute's throwaway webhook keys (printed by `notifier sandbox`).
PUBLIC_KEY = "sandbox-webhook-public-key"
PRIVATE_KEY = "sandbox-webhook-private-key-0123456789"
EXAM_PATH = "/webhooks/testpress/exam"
CONTENT_PATH = "/webhooks/testpress/chapter-content"


def testpress_hash(values: list[Any], private_key: str) -> str:
    """HMAC-SHA512 (keyed with the private key, hex) of the values, each percent-encoded
    as `quote(str(value), safe="")`, joined with `|`."""
    message = "|".join(quote(str(v), safe="") for v in values)
    return hmac.new(private_key.encode(), message.encode(), hashlib.sha512).hexdigest()


def sign_exam(payload: dict[str, Any], public_key: str, private_key: str) -> dict[str, Any]:
    p = payload
    values = [
        public_key, p["attempt_id"], p["correct_answers_count"], private_key,
        p["incorrect_answers_count"], p["unanswered_answers_count"], p["percentage"],
        p["score"], p["user_id"],
    ]  # fmt: skip
    return {**p, "key": public_key, "hash": testpress_hash(values, private_key)}


def sign_content(payload: dict[str, Any], public_key: str, private_key: str) -> dict[str, Any]:
    p = payload
    values = [
        public_key, p["attempt_id"], p["chapter_content"]["id"], p["user_id"],
        p["course"]["id"], private_key, p["state"],
    ]  # fmt: skip
    return {**p, "key": public_key, "hash": testpress_hash(values, private_key)}


def exam_payload(inst: Institute, attempt_id: int) -> dict[str, Any]:
    """The exam webhook's body (unsigned) for the attempt as it is now."""
    with inst.lock:
        a = inst.attempts[attempt_id]
        exam = inst.exams[a.exam_id]
        user = inst.users.get(a.user_id)
        completed = a.state == "Completed"
        detail = render.attempt_detail(inst, a, "", inst.now()) if completed else {}
        answered = a.correct + a.incorrect
        return {
            "attempt_id": a.id,
            "user_id": a.user_id,
            "username": user.username if user else None,
            "email": user.email if user else None,
            "exam": {
                "id": exam.id,
                "title": exam.title,
                "duration": str(timedelta(minutes=exam.duration_minutes)),
                "start_date": None,
                "end_date": None,
            },
            "correct_answers_count": a.correct,
            "incorrect_answers_count": a.incorrect,
            "unanswered_answers_count": a.unanswered,
            "partial_correct_answers_count": 0,
            "score": f"{a.score:.2f}",
            "percentage": f"{a.percentage:.2f}",
            "accuracy": round(100 * a.correct / answered) if answered else 0,
            "speed": detail.get("speed", 0),
            "subject_stats": detail.get("subject_stats", []),
            "difficulty_level_stats": detail.get("difficulty_level_stats", {}),
            "completed_on": fmt_time(a.completed_at, zulu=False) if completed else None,
            "attempt_start_time": fmt_time(a.started_at, zulu=False),
            "institute_attempt_id": 100000 + a.id,
            "attempt_state": "completed" if completed else "started",
        }


def content_payload(inst: Institute, content_attempt_id: int) -> dict[str, Any]:
    """The chapter-content webhook's body (unsigned) for the content attempt now."""
    with inst.lock:
        ca = inst.content_attempts[content_attempt_id]
        cc = inst.chapter_contents[ca.chapter_content_id]
        course = inst.courses.get(cc["course_id"], {})
        side = {
            name: inst.side[name].get(ca.link_id or 0)
            for name in ("user_exams", "user_videos", "user_video_conferences")
        }
        return {
            "attempt_id": ca.id,
            "user_id": ca.user_id,
            "chapter_content": {
                "id": cc["id"],
                "title": cc["title"],
                "content_type": cc["content_type"],
                "exam": cc["exam_id"],
            },
            "course": {"id": course.get("id"), "title": course.get("title")},
            "assessment": _copy(side["user_exams"]),
            "user_video": _copy(side["user_videos"]),
            "user_video_conference": _copy(side["user_video_conferences"]),
            "state": ca.state,
            "created": fmt_time(ca.created, zulu=False),
            "completed_on": fmt_time(ca.completed_on, zulu=False),
        }


def _copy(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if row is None else json.loads(json.dumps(row))


@dataclass(frozen=True)
class Sent:
    """One webhook the pusher posted: what, and what the receiver answered (0: no
    answer, the connection failed)."""

    path: str
    attempt_id: int
    state: str
    status: int
    sent_at: float  # time.time() just before the request was written


class Pusher:
    """Posts the institute's webhooks to `url` (the notifier's base URL) as its
    attempts change; `sent` lists what was posted. Attach with `Institute.listeners`."""

    def __init__(
        self, url: str, public_key: str = PUBLIC_KEY, private_key: str = PRIVATE_KEY
    ) -> None:
        self.url = url.rstrip("/")
        self.public_key = public_key
        self.private_key = private_key
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._sent: list[Sent] = []
        self._thread = threading.Thread(target=self._run, name="sandbox-push", daemon=True)
        self._conn: http.client.HTTPConnection | None = None

    @property
    def sent(self) -> list[Sent]:
        with self._lock:
            return list(self._sent)

    def attach(self, inst: Institute) -> Pusher:
        self.inst = inst
        inst.listeners.append(self.changed)
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def changed(self, what: str, record_id: int) -> None:
        """An institute change (called under the institute's lock): render and queue."""
        if what == "attempt":
            payload = sign_exam(
                exam_payload(self.inst, record_id), self.public_key, self.private_key
            )
            self._queue.put((EXAM_PATH, payload))
        elif what == "content_attempt":
            payload = content_payload(self.inst, record_id)
            signed = sign_content(payload, self.public_key, self.private_key)
            self._queue.put((CONTENT_PATH, signed))

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._conn is not None:
            self._conn.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued webhook was posted (for tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                path, payload = item
                state = str(payload.get("attempt_state") or payload.get("state"))
                sent_at = time.time()
                status = self._post(path, json.dumps(payload).encode())
                with self._lock:
                    self._sent.append(Sent(path, payload["attempt_id"], state, status, sent_at))
            finally:
                self._queue.task_done()

    def _post(self, path: str, body: bytes) -> int:
        """One POST on a kept-alive connection (a new one if it was closed)."""
        parts = urlsplit(self.url)
        for _ in range(2):
            try:
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(
                        parts.hostname or "127.0.0.1", parts.port or 80, timeout=10
                    )
                self._conn.request(
                    "POST", parts.path + path, body, {"Content-Type": "application/json"}
                )
                response = self._conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self._conn.close()
                    self._conn = None
                return response.status
            except (OSError, http.client.HTTPException):
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
        log.debug("sandbox push to %s%s failed", self.url, path)
        return 0
