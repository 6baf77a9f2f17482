"""Exam attempts: find attempts newly in state Completed, cheaply and without loss.

`notifier.sources.exam_scan` finds them (the counted window: an idle cycle is two
requests, whatever the history); this module turns what it found into events: new ids
only, enriched stage by stage (detail, answers) for the rules that still want them, a
chunk at a time.

The first cycle on an empty store reads the whole lookback window and is a baseline:
it records, and alerts on nothing (unless `--since` was given).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import cast

from notifier.events import Event, FieldValue, JSONScalar, Stage
from notifier.rules.evaluate import match_rule
from notifier.rules.schema import Rule
from notifier.sources.base import (
    Fetcher,
    Filters,
    PollContext,
    PollResult,
    Record,
    enrich,
    merge_parts,
    stages_wanted,
)
from notifier.sources.exam_scan import ExamScan, Scan
from notifier.sources.lookups import Lookups
from notifier.sources.rows import Rows
from notifier.state import PollStore
from notifier.testpress.client import TestpressClient, TestpressError
from notifier.testpress.models import (
    AttemptDetail,
    ExamQuestion,
    UserAnswer,
    parse_records,
    question_text,
)

log = logging.getLogger(__name__)

DETAIL = "/api/v2.5/admin/attempts/{}/"
ANSWERS = "/api/v3/admin/attempts/{}/user_answers/"
KIND = "attempt.completed"
# New attempts enriched and evaluated at a time: bounds memory on a large backlog.
CHUNK = 250


class AttemptsSource:
    name = "attempts"
    kinds: tuple[str, ...] = (KIND,)

    def query_filters(self, rules: Sequence[Rule]) -> Filters:
        """The filters pushed into the list query because every rule pins them."""
        return pinned_filters(rules)

    def poll(self, ctx: PollContext) -> PollResult:
        """The whole poll as one result (the rules preview reads it so); the run loop
        takes it in parts (`poll_parts`)."""
        return merge_parts(self.poll_parts(ctx))

    def poll_parts(self, ctx: PollContext) -> Iterator[PollResult]:
        """The poll, a chunk of new attempts at a time: each part (its seen marks,
        events and history) is recorded in its own transaction as soon as it is ready,
        so a backlog of 60,000 attempts never holds more than a chunk's details, events
        and history. The cursor goes with the last part only: a poll that dies half-way
        is read again, and what its parts marked seen is skipped then."""
        client = ctx.client
        reconcile = timedelta(minutes=ctx.reconcile_minutes)
        scan = ExamScan(ctx, self.name, self.query_filters(ctx.rules), reconcile).run()
        rows = scan.found
        scan.found = Rows()
        members = scan.member_keys()  # attempt id -> its member keys
        new_keys = ctx.store.seen.unseen(self.name, rows)
        for aid in set(rows) - new_keys:  # seen since the scan read it
            rows.pop(aid)
            scan.already.add(aid)
        lookups = Lookups(ctx.store.sources, client)
        if ctx.baseline:
            for ids in _chunks(sorted(new_keys)):
                part = PollResult(seen=[*ids, *_members_of(members, ids)], last=False)
                records = [rows.pop(k) for k in ids]
                if ctx.history_fields:
                    keep_attempts(ctx, part, records, lookups)
                yield part
            yield _last(scan, members)
            return
        if ctx.since is not None:  # the first cycle of `run --since`: older ones are history
            since = ctx.since.isoformat()
            quiet = [k for k in new_keys if str(rows.value(k, "date") or "")[:10] < since]
            new_keys -= set(quiet)
            for ids in _chunks(sorted(quiet)):
                for k in ids:
                    rows.pop(k)
                yield PollResult(seen=[*ids, *_members_of(members, ids)], last=False, read=0)
        fetchers = _fetchers(client)
        stages: tuple[tuple[list[str], set[Stage]], ...] = (
            ([k for k in sorted(new_keys) if k not in scan.detailed], {"list", "lookup"}),
            ([k for k in sorted(new_keys) if k in scan.detailed], {"list", "lookup", "detail"}),
        )
        for ids, have in stages:
            # A chunk at a time, keeping only what some rule matches: a backlog of
            # 20,000 attempts never holds 20,000 details at once.
            for chunk_ids in _chunks(ids):
                chunk = [rows.pop(k) for k in chunk_ids]
                yield self._part(ctx, chunk, have, fetchers, lookups, members)
        # A member is recorded only with its attempt seen: one whose detail could not
        # be fetched keeps the count short, so the next cycle reads it again.
        yield _last(scan, members)

    def _part(
        self,
        ctx: PollContext,
        chunk: list[Record],
        have: set[Stage],
        fetchers: dict[Stage, Fetcher],
        lookups: Lookups,
        members: dict[str, list[str]],
    ) -> PollResult:
        """One chunk of new attempts enriched, evaluated as far as the source goes
        (the matching ones become events), with their seen marks and history."""
        part = PollResult(last=False)
        # Rules that read `student` or `exam_title` need them before the detail.
        _label(
            [r for r in chunk if "lookup" in stages_wanted(ctx.rules, r, {"list"})],
            lookups,
        )
        ready = enrich(chunk, ctx.rules, fetchers, have, part.errors)
        del chunk
        part.read = len(ready)
        ids = [str(data["id"]) for data in ready]
        part.seen = [*ids, *_members_of(members, ids)]
        matched = [r for r in ready if any(match_rule(rule, _event(r)) for rule in ctx.rules)]
        # Every alert a person will read gets the readable names.
        _label(matched, lookups)
        if ctx.history_fields:
            keep_attempts(ctx, part, ready, lookups)
        part.events = [Event(KIND, str(data["id"]), data) for data in matched]
        return part

    def watch(self, store: PollStore, attempt_ids: Iterable[str], now: float) -> None:
        """Attempts Testpress pushed as started join the watch, so the next poll checks
        on them when they are not among the older runners, however they finish: one that
        started long before the window, or whose start the window does not cover, is
        then read alone. Before the first poll there is no watch: that poll reads the
        whole window."""
        cursor = store.sources.get_state(self.name, "cursor")
        if not isinstance(cursor, dict):
            return
        if "gen" not in cursor:  # a cursor from before the counted window
            running = {str(i) for i in cursor.get("running", [])} | {str(i) for i in attempt_ids}
            store.sources.put_state(
                self.name, {"cursor": {**cursor, "running": sorted(running)}}, now
            )
            return
        watch = dict(cursor.get("watch") or {})
        watch.update({str(i): watch.get(str(i)) for i in attempt_ids})
        store.sources.put_state(self.name, {"cursor": {**cursor, "watch": watch}}, now)


def pinned_filters(rules: Sequence[Rule]) -> Filters:
    """Push `exams`/`users` into the query when every rule pins them to one value."""
    filters: Filters = {}
    for field, param in (("exam_id", "exams"), ("user_id", "users")):
        values = {rule.pinned(field) for rule in rules}
        if len(values) == 1 and None not in values:
            value = values.pop()
            if isinstance(value, JSONScalar):  # a rule pins a field with one plain value
                filters[param] = value
    return filters


def _fetchers(client: TestpressClient) -> dict[Stage, Fetcher]:
    def detail(data: Record) -> Record:
        raw = client.get(DETAIL.format(data["id"]))
        parsed = parse_records(AttemptDetail, [raw], where=f"attempt {data['id']}", cleaned=True)
        if not parsed:
            raise TestpressError(f"attempt {data['id']}: malformed detail", retryable=True)
        return parsed[0].to_data()

    def answers(data: Record) -> Record:
        return {"answers": fetch_answers(client, data["id"])}

    return {"detail": detail, "answers": answers}


def fetch_answers(client: TestpressClient, attempt_id: FieldValue) -> list[FieldValue]:
    """Every page of the attempt's user answers, joined with their exam questions."""
    answers: list[UserAnswer] = []
    questions: dict[int, ExamQuestion] = {}
    where = ANSWERS.format(attempt_id)
    for page in client.pages(where):
        body = page.results if isinstance(page.results, dict) else {}
        answers += parse_records(
            UserAnswer, body.get("user_answers") or [], where=where, cleaned=True
        )
        for question in parse_records(
            ExamQuestion, body.get("exam_questions") or [], where=where, cleaned=True
        ):
            questions[question.id] = question
    joined: list[FieldValue] = []
    for answer in answers:
        q = questions.get(answer.exam_question_id) if answer.exam_question_id is not None else None
        joined.append(
            {
                "question_id": q.question_id if q else None,
                "section_id": q.section_id if q else None,
                "type": q.type if q else None,
                "result": answer.result,
                "duration": answer.duration,
                "marks": q.marks if q else None,
                "negative_marks": q.negative_marks if q else None,
                "review": answer.review,
                "guessed": answer.guessed,
                # Parsed JSON, passed through as Testpress sent it (the model keeps `object`).
                "selected_answers": cast("list[FieldValue] | None", answer.selected_answers),
                "question_text": question_text(q.question_html or "") if q else None,
            }
        )
    return joined


def _label(records: list[Record], lookups: Lookups) -> None:
    """Add `exam_title` and `student` from cached look-ups (null when a look-up fails)."""
    todo = [r for r in records if "student" not in r]
    if not todo:
        return
    lookups.load(
        {"user": [r.get("user_id") for r in todo], "exam": [r.get("exam_id") for r in todo]}
    )
    for record in todo:
        record["exam_title"] = lookups.exam_title(record.get("exam_id"))
        record["student"] = lookups.student(
            record.get("user_id"), record.get("name"), record.get("username"), record.get("email")
        )


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


def _members_of(members: dict[str, list[str]], ids: Iterable[str]) -> list[str]:
    """The member keys of attempts now seen, taken out of `members`: a member is
    recorded only with its attempt seen."""
    return [key for aid in ids for key in members.pop(aid, ())]


def _last(scan: Scan, members: dict[str, list[str]]) -> PollResult:
    """The poll's last part: the cursor, the scan's errors, and the members of attempts
    seen before this poll (those of attempts not seen yet stay out: the count stays
    short, so the next cycle reads them again)."""
    seen = [key for aid in sorted(scan.already) for key in members.get(aid, ())]
    return PollResult(seen=seen, state={"cursor": scan.cursor}, errors=scan.errors, read=0)


def keep_attempts(
    ctx: PollContext, result: PollResult, records: list[Record], lookups: Lookups
) -> None:
    """Keep every new attempt in the history, with its exam's title (a cached look-up,
    one per exam), so "Algebra Mock 2 (20%)" reads as such; not the student's (the
    list has their name)."""
    lookups.load({"exam": [r.get("exam_id") for r in records if "exam_title" not in r]})
    for record in records:
        record.setdefault("exam_title", lookups.exam_title(record.get("exam_id")))
        result.keep(ctx, KIND, str(record["id"]), record)


def _event(data: Record) -> Event:
    return Event(KIND, str(data.get("id")), data)
