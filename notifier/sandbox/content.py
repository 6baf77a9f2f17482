"""Courses, chapter contents, chapter-content attempts and live classes (video conferences).

Mixed into `Institute`, whose lock, users and seed it shares. Side-loaded rows
(`user_videos`, `user_exams`, ...) are kept already in their wire shape, because the
API returns them as they are; content attempts keep clean values and are rendered by
`render.content_attempt`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from notifier.sandbox.generate import COURSE_TITLES, VIDEO_TITLES
from notifier.sandbox.model import Clock, Exam, User, fmt_time, ist_date

#: content attempt spelling -> (filter code, chapter-content spelling, side-load list, link)
KINDS: dict[str, tuple[int, str, str | None, str | None]] = {
    "assessment": (1, "Exam", "user_exams", "assessment_id"),
    "quiz": (2, "Quiz", "user_exams", "assessment_id"),
    "video": (3, "Video", "user_videos", "user_video_id"),
    "attachment": (4, "Attachment", None, "user_attachment_id"),
    "notes": (5, "Notes", None, "user_content_id"),
    "videoConference": (7, "VideoConference", "user_video_conferences", "user_video_conference_id"),
    "live_stream": (8, "Live Stream", "user_live_streams", "user_live_stream_id"),
}
CONTENT_STATES = {0: "Started", 1: "Completed", 2: "Pending Evaluation", 3: "Evaluation Completed"}
SIDE_LISTS = ("user_videos", "user_exams", "user_video_conferences", "user_live_streams")


@dataclass(slots=True)
class ContentAttempt:
    id: int
    user_id: int
    chapter_content_id: int
    kind: str
    created: datetime
    state: str = "Started"
    completed_on: datetime | None = None
    link_id: int | None = None
    correct: int | None = None
    incorrect: int | None = None


@dataclass(slots=True)
class Row:
    """One line of a live class's attendance: a participant joined once."""

    id: int
    name: str
    email: str | None
    user_id: int | None
    join_time: datetime
    leave_time: datetime | None = None


@dataclass(slots=True)
class Conference:
    id: int
    title: str
    start: datetime
    duration_minutes: int
    chapter_content_id: int
    state: str = "Running"
    rows: list[Row] = field(default_factory=list)


class ContentMixin(Clock):
    """Chapter-content attempts and conferences; see the method docstrings."""

    lock: threading.RLock
    users: dict[int, User]
    exams: dict[int, Exam]
    seed: int
    list_order: str = "oldest-first"  # or "newest-first": content and attendance lists

    changed: Callable[[str, int], None]  # Institute's: tells its listeners (webhooks)

    def _init_content(self) -> None:
        self.courses: dict[int, dict[str, Any]] = {}
        self.chapter_contents: dict[int, dict[str, Any]] = {}
        self.content_attempts: dict[int, ContentAttempt] = {}
        self.side: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in SIDE_LISTS}
        self.conferences: dict[int, Conference] = {}
        self._next_cc = 1
        self._next_ca = 1
        self._next_link = 1
        self._next_row = 1
        # Bumped by every change: the pages of one list reuse one filtered scan.
        self._content_version = 0
        self._content_memo: tuple[Any, list[ContentAttempt]] | None = None
        for i, title in enumerate(COURSE_TITLES, start=1):
            slug = "".join(c if c.isalnum() else "-" for c in title.lower())
            self.courses[i] = {"id": i, "title": title, "slug": slug, "description": "",
                               "chapters_count": 3, "order": i - 1, "created_by": 1}  # fmt: skip

    # -- chapter contents ------------------------------------------------------------------

    def _add_chapter_content(self, kind: str, title: str, **links: Any) -> int:
        cid = self._next_cc
        self._next_cc += 1
        course_id = (cid - 1) % len(self.courses) + 1
        self.chapter_contents[cid] = {
            "id": cid, "order": cid, "chapter_id": course_id * 100 + cid % 3 + 1,
            "free_preview": False, "title": title, "course_id": course_id,
            "exam_id": None, "content_id": None, "video_id": None, "attachment_id": None,
            "content_type": KINDS[kind][1], "start": "2024-06-24T12:11:30.950513+05:30",
            "end": None, "description": "", **links,
        }  # fmt: skip
        return cid

    def _add_exam_content(self, exam_id: int) -> None:
        title = self.exams[exam_id].title
        self._add_chapter_content("assessment", title, exam_id=exam_id)

    def _content_for(self, kind: str) -> int:
        wanted = KINDS[kind][1]
        for cid, row in self.chapter_contents.items():
            if row["content_type"] == wanted:
                return cid
        n = self._next_cc
        if kind == "video":
            return self._add_chapter_content(kind, VIDEO_TITLES[n % 3], video_id=n)
        if kind == "attachment":
            return self._add_chapter_content(kind, f"Notes PDF {n}", attachment_id=n)
        if kind == "videoConference":
            return self.conferences[self.add_conference()].chapter_content_id
        return self._add_chapter_content(kind, f"{wanted} {n}", content_id=n)

    # -- content attempts ------------------------------------------------------------------

    def add_content_attempt(
        self,
        user_id: int,
        content_type: str = "video",
        *,
        chapter_content_id: int | None = None,
        created: datetime | None = None,
    ) -> int:
        """Start a chapter-content attempt (state Started). Returns its id.

        `content_type` uses the content-attempt spelling: `assessment`, `quiz`, `video`,
        `attachment`, `notes`, `videoConference`, `live_stream`. Without
        `chapter_content_id` the first content of that type is used (made if needed).
        The matching side-loaded row (`user_videos`, `user_exams`, ...) is created too.
        """
        with self.lock:
            if content_type not in KINDS:
                raise ValueError(f"unknown content type {content_type!r}")
            if user_id not in self.users:
                raise KeyError(f"no user {user_id}")
            cid = chapter_content_id or self._content_for(content_type)
            cc = self.chapter_contents[cid]
            when = self._at(created)
            ca = ContentAttempt(self._next_ca, user_id, cid, content_type, when)
            self._next_ca += 1
            side = KINDS[content_type][2]
            ca.link_id = self._next_link
            self._next_link += 1
            stamp = fmt_time(when, zulu=False)
            if side == "user_videos":
                self.side[side][ca.link_id] = {
                    "id": ca.link_id, "video_id": cc["video_id"], "created": stamp,
                    "watched_percentage": 0, "remaining_duration": None, "state": "Started",
                    "is_live_class_recording": ca.id % 4 == 0,
                }  # fmt: skip
            elif side == "user_exams":
                self.side[side][ca.link_id] = {
                    "id": ca.link_id, "exam_id": cc["exam_id"], "user_id": user_id,
                    "total_score": "0.00", "number_of_correct_answers": 0,
                    "number_of_incorrect_answers": 0, "number_of_unanswered_questions": 0,
                    "number_of_answered_questions": 0, "percentage": "0.00", "rank": "NA",
                    "result": "NA", "total_questions": 20,
                }  # fmt: skip
                ca.correct, ca.incorrect = 0, 0
            elif side == "user_live_streams":
                self.side[side][ca.link_id] = {
                    "id": ca.link_id, "live_stream_id": cc["content_id"], "user_id": user_id,
                    "state": "Started", "duration": None, "created": stamp,
                }  # fmt: skip
            elif side == "user_video_conferences":
                conf = next(c for c in self.conferences.values() if c.chapter_content_id == cid)
                self.side[side][ca.link_id] = {
                    "id": ca.link_id, "user_id": user_id, "duration": None,
                    "join_time": None, "leave_time": None,
                    "video_conference": self._conference_json(conf),
                }  # fmt: skip
            self.content_attempts[ca.id] = ca
            self.changed("content_attempt", ca.id)
            self._content_version += 1
            return ca.id

    def complete_content_attempt(
        self,
        content_attempt_id: int,
        *,
        state: str = "Completed",
        completed_at: datetime | None = None,
        watched_percentage: float | None = None,
        percentage: float | None = None,
        result: str | None = None,
        score: float | None = None,
        rank: int | str | None = None,
        correct: int | None = None,
        incorrect: int | None = None,
    ) -> None:
        """Move a content attempt to `state` ("Completed", "Pending Evaluation" or
        "Evaluation Completed"), stamping `completed_on` on the first such move.

        Videos take `watched_percentage` (default 100); exams and quizzes take
        `percentage`, `result`, `score`, `rank`, `correct`, `incorrect`, which go to the
        side-loaded `user_exams` row.
        """
        with self.lock:
            if state not in CONTENT_STATES.values() or state == "Started":
                raise ValueError(f"cannot complete into state {state!r}")
            ca = self.content_attempts[content_attempt_id]
            self._content_version += 1
            ca.state = state
            if ca.completed_on is None or completed_at is not None:
                ca.completed_on = self._at(completed_at)
            side = KINDS[ca.kind][2]
            row = self.side[side].get(ca.link_id or 0) if side else None
            if row is None:
                self.changed("content_attempt", ca.id)
                return
            if side == "user_videos":
                row["watched_percentage"] = (
                    100 if watched_percentage is None else watched_percentage
                )
                row["state"] = "Completed"
            elif side == "user_exams":
                ca.correct = correct if correct is not None else ca.correct
                ca.incorrect = incorrect if incorrect is not None else ca.incorrect
                pct = 0.0 if percentage is None else percentage
                row.update(
                    percentage=f"{pct:.2f}",
                    total_score=f"{(score if score is not None else pct / 5):.2f}",
                    result=result or ("Pass" if pct >= 40 else "Fail"),
                    rank="NA" if rank is None else rank,
                    number_of_correct_answers=ca.correct or 0,
                    number_of_incorrect_answers=ca.incorrect or 0,
                )
            elif side == "user_live_streams":
                row["state"] = "Completed"
            self.changed("content_attempt", ca.id)

    def query_content_attempts(
        self,
        *,
        filters: dict[str, set[int]],
        content_type: int | None = None,
        state: int | None = None,
        completed_after: date | None = None,
        completed_before: date | None = None,
        completed_date: date | None = None,
        offset: int = 0,
        limit: int = 250,
    ) -> tuple[int, list[ContentAttempt]]:
        """(count, page) of content attempts in id order. `filters` maps `user_ids`,
        `course_ids`, `chapter_ids`, `chapter_content_ids`, `exam_id` to allowed ids.
        Completion dates are in the institute's time zone and inclusive."""
        with self.lock:
            asked = (
                filters,
                content_type,
                state,
                completed_after,
                completed_before,
                completed_date,
            )
            memo_key = (self._content_version, self.list_order, repr(asked))
            if self._content_memo is not None and self._content_memo[0] == memo_key:
                out = self._content_memo[1]
                return len(out), out[offset : offset + limit]
            out = []
            for ca in self.content_attempts.values():
                cc = self.chapter_contents[ca.chapter_content_id]
                values = {
                    "user_ids": ca.user_id, "course_ids": cc["course_id"],
                    "chapter_ids": cc["chapter_id"], "chapter_content_ids": cc["id"],
                    "exam_id": cc["exam_id"],
                }  # fmt: skip
                if any(values[k] not in allowed for k, allowed in filters.items() if allowed):
                    continue
                if content_type is not None and KINDS[ca.kind][0] != content_type:
                    continue
                if state is not None and CONTENT_STATES.get(state) != ca.state:
                    continue
                if completed_after or completed_before or completed_date:
                    if ca.completed_on is None:
                        continue
                    day = ist_date(ca.completed_on)
                    if (
                        (completed_after and day < completed_after)
                        or (completed_before and day > completed_before)
                        or (completed_date and day != completed_date)
                    ):
                        continue
                out.append(ca)
            if self.list_order == "newest-first":
                out.reverse()
            self._content_memo = (memo_key, out)
            return len(out), out[offset : offset + limit]

    # -- live classes ----------------------------------------------------------------------

    def add_conference(
        self,
        title: str = "Live class",
        *,
        start: datetime | None = None,
        duration_minutes: int = 60,
    ) -> int:
        """Schedule a live class (state Running) with its chapter content. Returns the
        conference id that `/api/v3/admin/attempts/<id>/video-conference/` takes."""
        with self.lock:
            conf_id = len(self.conferences) + 1
            cid = self._add_chapter_content("videoConference", title)
            conf = Conference(conf_id, title, self._at(start), duration_minutes, cid)
            self.conferences[conf_id] = conf
            return conf_id

    def _conference_json(self, conf: Conference) -> dict[str, Any]:
        return {
            "id": conf.id, "title": conf.title, "conference_id": f"8{conf.id:09d}",
            "start": fmt_time(conf.start, zulu=False), "duration": conf.duration_minutes,
            "provider": "Zoom", "state": conf.state,
        }  # fmt: skip
