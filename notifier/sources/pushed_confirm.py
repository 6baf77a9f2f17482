"""A pushed attempt, read back from the admin API before it can alert.

A webhook is an authenticated hint, not a record: Testpress's hash leaves out the
exam attempt's state, its `completed_on`, the names, the exam and content titles and
a content attempt's `assessment` (testpress-api-notes.md), so a captured "started"
body made to say "completed" still verifies. So every pushed completion is read from
the API, and the event is made of what the API says, exactly as a poll's:

- an exam attempt: its detail (`GET /api/v2.5/admin/attempts/<id>/`, the request a
  rule needing `result` or `percentile` made anyway);
- a content attempt: the content-attempts list filtered by the signed `user_ids` and
  `chapter_content_ids` (there is no single content attempt endpoint), one short page
  holding the attempt and its side-loaded lists, joined as the poll joins them.

Each comes back as one of: `confirmed` (final in the API, with the poll's fields),
`not_final` (not completed there), `gone` (no such attempt, or one of another
student), or `error` (the API could not be read: try again later).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from notifier.events import EventData, FieldValue
from notifier.sources import attempts, content
from notifier.sources.base import DETAIL_CONCURRENCY
from notifier.testpress.client import TestpressClient, TestpressError
from notifier.testpress.models import AttemptDetail
from notifier.testpress.plain import parse_data

log = logging.getLogger(__name__)

Outcome = Literal["confirmed", "not_final", "gone", "error"]


@dataclass
class Confirmation:
    outcome: Outcome
    data: dict[str, FieldValue] = field(default_factory=dict)  # the API's, when confirmed
    error: str = ""


@dataclass(frozen=True)
class Signed:
    """What a webhook's hash vouches for, as text (None when the payload lacked it)."""

    attempt_id: str
    user_id: str | None
    chapter_content_id: str | None = None


def confirm_all(
    client: TestpressClient, signed: list[Signed], kind: str
) -> dict[str, Confirmation]:
    """Each attempt (`exam` or `chapter-content`) read from the API, a few at once."""
    check: Callable[[TestpressClient, Signed], Confirmation] = (
        confirm_exam if kind == "exam" else confirm_content
    )

    def one(item: Signed) -> Confirmation:
        try:
            return check(client, item)
        except TestpressError as exc:
            if exc.status == 404:
                return Confirmation("gone", error=str(exc))
            log.warning("could not read pushed attempt %s: %s", item.attempt_id, exc)
            return Confirmation("error", error=f"attempt {item.attempt_id}: {exc}")

    if not signed:
        return {}
    with ThreadPoolExecutor(min(DETAIL_CONCURRENCY, len(signed))) as pool:
        return {s.attempt_id: c for s, c in zip(signed, pool.map(one, signed), strict=True)}


def confirm_exam(client: TestpressClient, signed: Signed) -> Confirmation:
    raw = client.get(attempts.DETAIL.format(signed.attempt_id))
    where = f"attempt {signed.attempt_id}"
    parsed = parse_data(AttemptDetail, [raw], where=where, cleaned=True)
    if not parsed:
        raise TestpressError(f"{where}: malformed detail", retryable=True)
    data = parsed[0]
    if not _same_student(data, signed) or str(data.get("id")) != signed.attempt_id:
        return Confirmation("gone", error=f"{where}: not the attempt that was signed")
    if data.get("state") != "Completed":
        return Confirmation("not_final", data)
    return Confirmation("confirmed", data)


def confirm_content(client: TestpressClient, signed: Signed) -> Confirmation:
    if signed.user_id is None or signed.chapter_content_id is None:
        return Confirmation("gone", error="no signed user or chapter content")
    params = {"user_ids": signed.user_id, "chapter_content_ids": signed.chapter_content_id}
    for page in client.pages(content.PATH, params):
        joined, _ = content.read_page(page.results)
        for data in joined:
            if str(data.get("id")) != signed.attempt_id:
                continue
            if not _same_student(data, signed):
                return Confirmation("gone", error="not the attempt that was signed")
            if str(data.get("state") or "").lower() not in content.FINAL_STATES:
                return Confirmation("not_final", data)
            return Confirmation("confirmed", data)
    return Confirmation("gone", error=f"content attempt {signed.attempt_id} not in the API")


def _same_student(data: EventData, signed: Signed) -> bool:
    return signed.user_id is None or str(data.get("user_id")) == signed.user_id
