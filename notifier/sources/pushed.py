"""Pushed webhooks (the inbox) -> the very events the poll makes.

A pushed exam completion is the admin API's attempt record (`notifier.testpress.push.
exam_record`) validated by the same model the poll uses; a pushed content attempt is a
one-row page of the content-attempts list, joined by the same code. So an event has
the same kind, key and fields whichever way it came, and the seen marks decide, as for
the poll, that it alerts once: push then poll, poll then push, or two pushes.

The exam payload lacks some fields (`result`, `percentile`, `name`, `sections`, ...).
The attempt's detail is fetched only when a rule that reads such a field could still
match on the fields in hand; answers and look-ups follow the poll's stages.

A pushed start is not an event: the attempt joins the exam source's watch, so the poll
checks on it once it leaves the running list.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from notifier.events import ATTEMPT_FIELDS, CONTENT_ATTEMPT_FIELDS, Event, Stage
from notifier.rules.evaluate import match_rule
from notifier.rules.history import event_time, kept_fields, to_kept
from notifier.rules.schema import Rule
from notifier.sources import attempts, content
from notifier.sources.base import PollResult, _fetch_all, enrich, stages_wanted
from notifier.sources.lookups import Lookups
from notifier.state import InboxRow, Store
from notifier.testpress.client import TestpressClient
from notifier.testpress.models import (
    AttemptDetail,
    ChapterContent,
    ContentAttempt,
    Course,
    UserExam,
    UserVideo,
    UserVideoConference,
    parse_records,
)
from notifier.testpress.push import attempt_id_of, content_page, exam_record

log = logging.getLogger(__name__)

SOURCE_OF_INBOX = {"exam": "attempts", "chapter-content": "content_attempts"}
_DECLARED = frozenset(AttemptDetail.model_fields)
_FETCHED = frozenset({"list", "detail"})  # stages the detail request completes


@dataclass
class PushBatch:
    """What a batch of inbox rows comes to."""

    results: dict[str, PollResult] = field(default_factory=dict)  # source -> events, seen
    done: list[int] = field(default_factory=list)  # inbox ids finished with
    retry: dict[int, str] = field(default_factory=dict)  # inbox id -> why, to try again
    watch: list[str] = field(default_factory=list)  # exam attempts pushed as started
    received: dict[str, int] = field(default_factory=dict)  # source -> completions pushed


@dataclass
class _Pending:
    data: dict[str, Any]
    in_hand: set[str]
    rows: list[int]


def process(
    rows: Sequence[InboxRow],
    client: TestpressClient,
    store: Store,
    rules: Sequence[Rule],
    sources_in_use: Collection[str],
) -> PushBatch:
    """Turn inbox rows into events and seen marks, per source; the caller evaluates,
    records (one transaction per source, as a poll does) and marks the rows done."""
    batch = PushBatch()
    exams: dict[str, _Pending] = {}
    contents: dict[str, _Pending] = {}
    for row in rows:
        # Verified on receipt, so JSON; a row that is not raises: poison, set aside
        # by the caller (notifier.intake) after a few tries, its neighbours unharmed.
        payload = json.loads(row.body)
        source = SOURCE_OF_INBOX.get(row.kind)
        if source is None or source not in sources_in_use or not isinstance(payload, dict):
            batch.done.append(row.id)
            continue
        if row.kind == "exam":
            _read_exam(row, payload, exams, batch)
        else:
            _read_content(row, payload, contents, batch, store, client)
    if exams:
        kind_rules = [r for r in rules if r.event == attempts.KIND]
        batch.results["attempts"] = _exam_events(exams, kind_rules, client, store, batch)
    if contents:
        kind_rules = [r for r in rules if r.event == content.KIND]
        batch.results["content_attempts"] = _content_events(contents, kind_rules, store, batch)
    return batch


def _read_exam(
    row: InboxRow, payload: dict[str, Any], exams: dict[str, _Pending], batch: PushBatch
) -> None:
    record = exam_record(payload)
    key = str(attempt_id_of(payload))  # as the poll's key: the id's digits
    if record.get("state") == "Running":
        batch.watch.append(key)
        batch.done.append(row.id)
        return
    if record.get("state") != "Completed":
        batch.done.append(row.id)
        return
    parsed = parse_records(AttemptDetail, [record], where=f"pushed attempt {key}")
    if not parsed:
        batch.done.append(row.id)  # logged; the poll still sees the attempt
        return
    data = {k: v for k, v in parsed[0].to_data().items() if k in record or k not in _DECLARED}
    pending = exams.setdefault(key, _Pending(data, set(record), []))
    pending.rows.append(row.id)


def _read_content(
    row: InboxRow,
    payload: dict[str, Any],
    contents: dict[str, _Pending],
    batch: PushBatch,
    store: Store,
    client: TestpressClient,
) -> None:
    page = content_page(payload)
    found = parse_records(ContentAttempt, page["content_attempts"], where="pushed content attempt")
    if not found:
        batch.done.append(row.id)
        return
    data = found[0].to_data()
    if str(data.get("state") or "").lower() not in content.FINAL_STATES:
        batch.done.append(row.id)  # as the poll: it fires when it reaches a final state
        return
    side = {
        "users": _users(store, client, data.get("user_id")),
        "courses": content._by_id(Course, page, "courses"),
        "contents": content._by_id(ChapterContent, page, "chapter_contents"),
        "videos": content._by_id(UserVideo, page, "user_videos"),
        "exams": content._by_id(UserExam, page, "user_exams"),
        "confs": content._by_id(UserVideoConference, page, "user_video_conferences"),
    }
    key = str(data["id"])
    joined = content._join(data, side)
    pending = contents.setdefault(key, _Pending(joined, _content_in_hand(joined, payload), []))
    pending.rows.append(row.id)


# Content-attempt fields the chapter-content webhook never carries.
_CONTENT_NEVER_PUSHED = frozenset({"remaining_time"})


def _content_in_hand(data: dict[str, Any], payload: dict[str, Any]) -> set[str]:
    """The fields of a pushed content attempt that are known: all but those the
    webhook never carries, `chapter_id` unless its content says it, and the user's
    names when their look-up failed (the poll has them from its side-loaded users)."""
    lacking = set(_CONTENT_NEVER_PUSHED)
    if data.get("chapter_id") is None:
        lacking.add("chapter_id")
    if data.get("username") is None and data.get("email") is None:
        lacking |= {"username", "email", "student"}
    return set(CONTENT_ATTEMPT_FIELDS) - lacking


def _users(store: Store, client: TestpressClient, user_id: Any) -> dict[Any, dict[str, Any]]:
    """The user as the list's side-loaded `users` would have it, from the look-ups."""
    if user_id is None:
        return {}
    lookups = Lookups(store, client)
    lookups.load({"user": [user_id]})
    user = lookups.cache.get(f"user:{user_id}")
    if user is None:
        return {}
    return {
        str(user_id): {
            "display_name": user.get("display_name"),
            "first_name": user.get("name"),
            "username": user.get("username"),
            "email": user.get("email"),
        }
    }


def needs_detail(rule: Rule, data: dict[str, Any], in_hand: Collection[str]) -> bool:
    """Whether `rule` reads a list or detail field the payload lacks and may still
    match: no top-level condition on fields in hand has already failed."""
    missing = [
        f
        for f in rule.fields
        if f not in in_hand and f in ATTEMPT_FIELDS and ATTEMPT_FIELDS[f].stage in _FETCHED
    ]
    return bool(missing) and not _refuted(rule, data, in_hand)


def _exam_events(
    exams: dict[str, _Pending],
    rules: Sequence[Rule],
    client: TestpressClient,
    store: Store,
    batch: PushBatch,
) -> PollResult:
    result = PollResult()
    batch.received["attempts"] = len(exams)
    fresh = store.unseen("attempts", exams)
    for key, pending in exams.items():
        if key not in fresh:
            batch.done += pending.rows  # the poll (or an earlier push) had it
    todo = [exams[k] for k in sorted(fresh, key=_num)]
    fetchers = attempts._fetchers(client)
    need = [p for p in todo if any(needs_detail(r, p.data, p.in_hand) for r in rules)]
    if need:
        errors: list[str] = []
        records = [p.data for p in need]
        failed = _fetch_all(records, fetchers["detail"], "detail", errors)
        for p in need:
            if id(p.data) in failed:
                _retry(batch, p, "; ".join(errors[:1]) or "detail failed")
                todo.remove(p)
            elif p.data.get("state") != "Completed":
                batch.watch.append(str(p.data["id"]))  # pushed early: the poll follows it
                batch.done += p.rows
                todo.remove(p)
    have: set[Stage] = {"list", "lookup", "detail"}
    errors = []
    ready = enrich([p.data for p in todo], rules, {"answers": fetchers["answers"]}, have, errors)
    kept = {id(d) for d in ready}
    lookups = Lookups(store, client)
    for p in todo:
        if id(p.data) not in kept:
            _retry(batch, p, "; ".join(errors[:1]) or "answers failed")
    needing_names = [d for d in ready if "lookup" in stages_wanted(rules, d, {"list"})]
    _label(needing_names, lookups)
    matched = [d for d in ready if any(match_rule(r, Event(attempts.KIND, "", d)) for r in rules)]
    _label(matched, lookups)
    result.seen = [str(d["id"]) for d in ready]
    result.events = [Event(attempts.KIND, str(d["id"]), d) for d in matched]
    _keep(result, ready, rules)
    for p in todo:
        if id(p.data) in kept:
            batch.done += p.rows
    return result


def _keep(result: PollResult, ready: list[dict[str, Any]], rules: Sequence[Rule]) -> None:
    """Every pushed completion into the history (contract section 11), matching a rule
    or not: "3 in a row" and "the previous attempt" need them all."""
    fields = kept_fields(rules)[attempts.KIND]
    for data in ready:
        event = Event(attempts.KIND, str(data["id"]), data)
        at = event_time(event.kind, data)
        kept = to_kept(event, at, fields) if at is not None else None
        if kept is not None:
            result.history.append(kept)


def _label(records: list[dict[str, Any]], lookups: Lookups) -> None:
    """The poll's labels (`student`, `exam_title`), keeping the payload's exam title
    when the look-up has none."""
    titles = {id(r): r.get("exam_title") for r in records}
    attempts._label(records, lookups)
    for record in records:
        record["exam_title"] = record.get("exam_title") or titles[id(record)]


def _content_events(
    contents: dict[str, _Pending], rules: Sequence[Rule], store: Store, batch: PushBatch
) -> PollResult:
    """Fresh final content attempts as events; one that a rule could match only on a
    field the webhook lacks is left to the poll (not marked seen), never judged on
    half its fields."""
    result = PollResult()
    batch.received["content_attempts"] = len(contents)
    fresh = store.unseen("content_attempts", contents)
    for key, pending in sorted(contents.items(), key=lambda item: _num(item[0])):
        batch.done += pending.rows
        if key not in fresh:
            continue
        if any(_lacks(r, pending.data, pending.in_hand) for r in rules):
            continue
        result.events.append(Event(content.KIND, key, pending.data))
        result.seen.append(key)
    return result


def _lacks(rule: Rule, data: dict[str, Any], in_hand: Collection[str]) -> bool:
    """Whether `rule` reads a field not in hand and may still match on the rest."""
    return not rule.fields <= set(in_hand) and not _refuted(rule, data, in_hand)


def _refuted(rule: Rule, data: dict[str, Any], in_hand: Collection[str]) -> bool:
    """A top-level condition whose fields are all in hand already fails."""
    known = set(in_hand)
    return any(part.fields <= known and part.check(data) is None for part in rule.when.parts)


def _retry(batch: PushBatch, pending: _Pending, error: str) -> None:
    for row in pending.rows:
        batch.retry[row] = error


def _num(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (0, key)
