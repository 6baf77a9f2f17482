"""Chapter-content attempts: a video watched, a quiz or exam finished.

Reads `GET /api/v3/admin/chapter-content-attempts/` completed after a day before the
lookback window (the filter takes dates in the institute's time zone, so a day early
covers any zone), in the two final states (`state=1` Completed, `state=3` Evaluation
Completed), and joins each content attempt with the side-loaded lists of the same
response. Each list is a counted list (`notifier.sources.counted`): an idle cycle is
two requests, page 1 of each, whatever the day's completions; only when a count grew
are the pages that hold the new rows read. An attempt fires once, when first seen in a
final state; Pending Evaluation is in neither list, so an assessment fires when it
reaches Evaluation Completed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TypeAlias

from notifier.events import Event, FieldValue, JSONScalar, JSONValue, best_label
from notifier.rules.schema import Rule
from notifier.sources.base import Filters, PollContext, PollResult, Record
from notifier.sources.counted import CountedList, ListCursor
from notifier.testpress.client import Query, TestpressClient
from notifier.testpress.models import (
    ChapterContent,
    ContentAttempt,
    Course,
    User,
    UserExam,
    UserVideo,
    UserVideoConference,
)
from notifier.testpress.plain import parse_data

log = logging.getLogger(__name__)
# The side-loaded lists of a content-attempts page, each joined by its `id`.
_Side: TypeAlias = User | Course | ChapterContent | UserVideo | UserExam | UserVideoConference

PATH = "/api/v3/admin/chapter-content-attempts/"
KIND = "content_attempt.completed"
FINAL_STATES = {"completed", "evaluation completed"}
FINAL_STATE_CODES = (1, 3)  # the `state` filter: Completed, Evaluation Completed

# Every spelling seen (content attempts, chapter contents, search) -> the contract's name.
_CONTENT_TYPES = {
    "exam": "exam",
    "assessment": "exam",
    "1": "exam",
    "quiz": "quiz",
    "2": "quiz",
    "video": "video",
    "3": "video",
    "attachment": "attachment",
    "4": "attachment",
    "notes": "notes",
    "note": "notes",
    "html": "notes",
    "content": "notes",
    "5": "notes",
    "videoconference": "video_conference",
    "7": "video_conference",
    "livestream": "live_stream",
    "8": "live_stream",
}
CONTENT_TYPE_CODES = {
    "exam": 1,
    "quiz": 2,
    "video": 3,
    "attachment": 4,
    "notes": 5,
    "video_conference": 7,
    "live_stream": 8,
}


def content_type_name(value: object) -> str | None:
    """Map any spelling of a content type ("videoConference", "Live Stream", 7, ...) to
    the contract's name, or None when unknown."""
    if value is None:
        return None
    return _CONTENT_TYPES.get(re.sub(r"[^a-z0-9]", "", str(value).lower()))


def read_content_attempts(
    client: TestpressClient, params: Query
) -> tuple[list[Record], list[Record]]:
    """Every page, joined. Returns (content attempts as event data, the
    user_video_conferences rows seen), de-duplicated by id."""
    found: dict[str, Record] = {}
    conferences: list[Record] = []
    for page in client.pages(PATH, params):
        joined, side = read_page(page.results)
        conferences += side["confs"].values()
        for data in joined:
            found.setdefault(str(data["id"]), data)
    return list(found.values()), conferences


def read_page(results: JSONValue) -> tuple[list[Record], dict[str, dict[str, Record]]]:
    """One page's content attempts joined with its side-loaded lists, and those lists."""
    body: Mapping[str, JSONValue] = results if isinstance(results, dict) else {}
    side = {
        "users": _by_id(User, body, "users"),
        "courses": _by_id(Course, body, "courses"),
        "contents": _by_id(ChapterContent, body, "chapter_contents"),
        "videos": _by_id(UserVideo, body, "user_videos"),
        "exams": _by_id(UserExam, body, "user_exams"),
        "confs": _by_id(UserVideoConference, body, "user_video_conferences"),
    }
    joined = [
        _join(attempt, side)
        for attempt in parse_data(ContentAttempt, body.get("content_attempts") or [], where=PATH)
    ]
    return joined, side


def _final_rows(results: JSONValue) -> list[tuple[str, Record]]:
    joined, _ = read_page(results)
    return [(str(data["id"]), data) for data in joined]


def _by_id(model: type[_Side], body: Mapping[str, JSONValue], key: str) -> dict[str, Record]:
    return {str(r["id"]): r for r in parse_data(model, body.get(key) or [], where=f"{PATH} {key}")}


def _join(data: Record, side: dict[str, dict[str, Record]]) -> Record:
    user = side["users"].get(str(data.get("user_id")), {})
    content = side["contents"].get(str(data.get("chapter_content_id")), {})
    course = side["courses"].get(str(data.get("course_id")), {})
    video = side["videos"].get(str(data.get("user_video_id")), {})
    exam = side["exams"].get(str(data.get("assessment_id")), {})
    conference = side["confs"].get(str(data.get("user_video_conference_id")), {})
    names = (user.get("first_name"), user.get("last_name"))
    full_name = " ".join(p for p in names if isinstance(p, str) and p)
    held = conference.get("video_conference")
    data.update(
        {
            "content_type": content_type_name(data.get("content_type"))
            or content_type_name(content.get("content_type")),
            "title": content.get("title")
            or (held.get("title") if isinstance(held, Mapping) else None),
            "course_title": course.get("title"),
            "username": user.get("username"),
            "email": user.get("email"),
            "student": best_label(
                user.get("display_name"),
                full_name,
                user.get("username"),
                user.get("email"),
                user_id=data.get("user_id"),
            ),
            "watched_percentage": video.get("watched_percentage"),
            "percentage": exam.get("percentage"),
            "result": exam.get("result"),
            "rank": exam.get("rank"),
            "total_score": exam.get("total_score"),
        }
    )
    return data


class ContentAttemptsSource:
    name = "content_attempts"
    kinds: tuple[str, ...] = (KIND,)

    def query_filters(self, rules: Sequence[Rule]) -> Filters:
        """The filters pushed into the list query because every rule pins them."""
        return pinned_filters(rules)

    def poll(self, ctx: PollContext) -> PollResult:
        result = PollResult()
        if ctx.since is not None:
            completed_after = ctx.since - timedelta(days=1)
        else:
            completed_after = (ctx.now - timedelta(hours=ctx.lookback_hours, days=1)).date()
        cur = ctx.store.sources.get_state(self.name, "cursor") or {}
        moved = cur.get("window") != completed_after.isoformat()
        params: Filters = {"completed_after": completed_after.isoformat()}
        params.update(self.query_filters(ctx.rules))
        reader = CountedList(
            ctx.client, ctx.store.seen, self.name, PATH, _final_rows,
            now=ctx.now, reconcile=timedelta(minutes=ctx.reconcile_minutes),
        )  # fmt: skip
        lists = cur.get("lists") or {}
        found: dict[str, Record] = {}
        members: list[str] = []
        cursors: dict[str, ListCursor] = {}
        for state in FINAL_STATE_CODES:
            got = reader.read(
                {**params, "state": state},
                lists.get(str(state)) or ListCursor(),
                tag=f"s{state}.",
                rebuild=moved or ctx.baseline,
            )
            found.update(got.found)
            members += got.members
            cursors[str(state)] = got.cursor
        result.state["cursor"] = {"window": completed_after.isoformat(), "lists": cursors}
        final = {
            k: r for k, r in found.items() if str(r.get("state") or "").lower() in FINAL_STATES
        }
        new_keys = ctx.store.seen.unseen(self.name, final)
        # Nothing here is fetched afterwards, so every row read is seen by the end of the
        # cycle and every member can be recorded with it.
        result.seen = sorted(new_keys) + members
        if ctx.baseline:
            for key in sorted(new_keys):
                result.keep(ctx, KIND, key, final[key])
            return result
        if ctx.since is not None:
            new_keys = {
                k for k in new_keys if _on_or_after(final[k].get("completed_on"), ctx.since)
            }
        result.events = [Event(KIND, key, final[key]) for key in sorted(new_keys, key=_num)]
        for e in result.events:
            result.keep(ctx, KIND, e.key, e.data)
        return result


def pinned_filters(rules: Sequence[Rule]) -> Filters:
    """Push `content_type` and `course_ids` into the query when every rule pins them."""
    filters: Filters = {}
    types = {rule.pinned("content_type") for rule in rules}
    if len(types) == 1 and (only := types.pop()) in CONTENT_TYPE_CODES:
        filters["content_type"] = CONTENT_TYPE_CODES[only]
    courses = {rule.pinned("course_id") for rule in rules}
    # a rule pins a field with one plain value (never a list or a mapping)
    if len(courses) == 1 and isinstance(course := courses.pop(), JSONScalar) and course is not None:
        filters["course_ids"] = course
    return filters


def _on_or_after(value: FieldValue, day: date) -> bool:
    return isinstance(value, str) and value[:10] >= day.isoformat()


def _num(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (0, key)
