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
from notifier.state import PollStore
from notifier.testpress.client import TestpressClient, TestpressError
from notifier.testpress.models import (
    AttemptDetail,
    ExamQuestion,
    UserAnswer,
    parse_records,
    question_text,
)
from notifier.testpress.plain import parse_data

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
        """The poll, a chunk of new attempts at a time, oldest first: each part (its
        seen marks, events and history) is recorded in its own transaction as soon as
        it is ready, so a backlog of 60,000 attempts never holds more than a chunk's
        details, events and history. The cursor and the member keys go with the last
        part only: a poll that dies half-way is read again, and what its parts marked
        seen is skipped then."""
        reconcile = timedelta(minutes=ctx.reconcile_minutes)
        scan = ExamScan(ctx, self.name, self.query_filters(ctx.rules), reconcile).run()
        lookups = Lookups(ctx.store.sources, ctx.client)
        fetchers = _fetchers(ctx.client)
        since = ctx.since.isoformat() if ctx.since is not None and not ctx.baseline else None
        # Three queues, each handed over a chunk at a time: attempts to enrich from the
        # list row, those whose detail is in hand (read alone), and the first cycle of
        # `run --since`'s older ones (history: marked seen without alerting).
        queues: dict[str, list[Record]] = {"list": [], "detail": [], "quiet": []}
        for aid, record in scan.found.drain():
            if since is not None and str(record.get("date") or "")[:10] < since:
                queue = "quiet"
            else:
                queue = "detail" if aid in scan.detailed else "list"
            queues[queue].append(record)
            if len(queues[queue]) >= CHUNK:
                yield self._part(ctx, queue, queues[queue], fetchers, lookups)
                queues[queue] = []
        for queue, records in queues.items():
            if records:
                yield self._part(ctx, queue, records, fetchers, lookups)
        yield _last(ctx, self.name, scan)

    def _part(
        self,
        ctx: PollContext,
        queue: str,
        chunk: list[Record],
        fetchers: dict[Stage, Fetcher],
        lookups: Lookups,
    ) -> PollResult:
        """One chunk of new attempts enriched, evaluated as far as the source goes
        (the matching ones become events), with their seen marks and history; in a
        baseline, or `quiet`, only marked seen (and kept in the history)."""
        part = PollResult(last=False, read=0)
        # Seen since the scan read them (a pushed completion, another replica): skipped.
        fresh = ctx.store.seen.unseen(self.name, [str(r["id"]) for r in chunk])
        chunk = [r for r in chunk if str(r["id"]) in fresh]
        if ctx.baseline or queue == "quiet":
            part.seen = [str(r["id"]) for r in chunk]
            if ctx.baseline and ctx.history_fields:  # so a new rule has it at once
                keep_attempts(ctx, part, chunk, lookups)
            return part
        have: set[Stage] = {"list", "lookup", "detail"} if queue == "detail" else {"list", "lookup"}
        # Rules that read `student` or `exam_title` need them before the detail.
        _label(
            [r for r in chunk if "lookup" in stages_wanted(ctx.rules, r, {"list"})],
            lookups,
        )
        ready = enrich(chunk, ctx.rules, fetchers, have, part.errors)
        del chunk
        part.read = len(ready)
        part.seen = [str(data["id"]) for data in ready]
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
        parsed = parse_data(AttemptDetail, [raw], where=f"attempt {data['id']}", cleaned=True)
        if not parsed:
            raise TestpressError(f"attempt {data['id']}: malformed detail", retryable=True)
        return parsed[0]

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


def _last(ctx: PollContext, source: str, scan: Scan) -> PollResult:
    """The poll's last part: the cursor, the scan's errors, and the member keys of the
    attempts now seen (a member is recorded only with its attempt seen: one whose
    detail could not be fetched keeps the count short, so the next cycle reads it
    again)."""
    unseen = ctx.store.seen.unseen(source, set(scan.members.values()))
    seen = [key for key, aid in scan.members.items() if aid not in unseen]
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
