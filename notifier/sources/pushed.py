"""Pushed webhooks (the inbox) -> the very events the poll makes.

A webhook is an authenticated hint about one attempt, nothing more: its hash leaves
out the exam attempt's state, names, titles and a content attempt's `assessment`. So
a pushed completion that no poll or earlier push has already seen is read from the
admin API first (notifier.sources.pushed_confirm: the exam attempt's detail, the
content attempt from the list filtered by its signed user and content) and the event
is made of what the API says, by the poll's models and join. A push the API does not
bear out (not completed there, or no such attempt) is marked nothing: no seen mark, so
the real completion still alerts once, later, by poll or by its own push. An exam
attempt pushed as completed that is still running joins the watch, as a pushed start
does, so the poll follows it. The seen marks decide, as for the poll, that an attempt
alerts once: push then poll, poll then push, or two pushes.

Answers and look-ups follow the poll's stages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from notifier.events import Event, Stage
from notifier.rules.evaluate import match_rule
from notifier.rules.history import event_time, kept_fields, to_kept
from notifier.rules.schema import Rule
from notifier.sources import attempts, content
from notifier.sources.base import PollResult, enrich, stages_wanted
from notifier.sources.lookups import Lookups
from notifier.sources.pushed_confirm import Confirmation, Signed, confirm_all
from notifier.state import InboxRow, PollStore
from notifier.testpress.client import TestpressClient
from notifier.testpress.push import Kind, attempt_id_of, pushed_state

log = logging.getLogger(__name__)

SOURCE_OF_INBOX = {"exam": "attempts", "chapter-content": "content_attempts"}


@dataclass
class PushBatch:
    """What a batch of inbox rows comes to."""

    results: dict[str, PollResult] = field(default_factory=dict)  # source -> events, seen
    done: list[int] = field(default_factory=list)  # inbox ids finished with
    retry: dict[int, str] = field(default_factory=dict)  # inbox id -> why, to try again
    watch: list[str] = field(default_factory=list)  # exam attempts pushed as started
    received: dict[str, int] = field(default_factory=dict)  # source -> completions pushed
    # For the log's minute summary (notifier.obs.summary): what became of the completions.
    started: int = 0  # exam attempts pushed as started
    seen: int = 0  # completions already seen (by the poll or an earlier push)
    confirmed: int = 0  # completions the API bore out: the rules see them
    refuted: int = 0  # completions the API did not bear out


@dataclass
class _Pending:
    signed: Signed
    rows: list[int]


def process(
    rows: Sequence[InboxRow],
    client: TestpressClient,
    store: PollStore,
    rules: Sequence[Rule],
    sources_in_use: Collection[str],
) -> PushBatch:
    """Turn inbox rows into events and seen marks, per source; the caller evaluates,
    records (one transaction per source, as a poll does) and marks the rows done."""
    batch = PushBatch()
    pending: dict[str, dict[str, _Pending]] = {"exam": {}, "chapter-content": {}}
    for row in rows:
        # Verified on receipt, so JSON; a row that is not raises: poison, set aside
        # by the caller (notifier.runtime.intake) after a few tries, its neighbours unharmed.
        payload = json.loads(row.body)
        source = SOURCE_OF_INBOX.get(row.kind)
        if source is None or source not in sources_in_use or not isinstance(payload, dict):
            batch.done.append(row.id)
            continue
        _read(row, payload, pending, batch)
    by_kind = {"exam": attempts.KIND, "chapter-content": content.KIND}
    for inbox_kind, found in pending.items():
        if found:
            source = SOURCE_OF_INBOX[inbox_kind]
            kind_rules = [r for r in rules if r.event == by_kind[inbox_kind]]
            confirmed = _confirmed(inbox_kind, source, found, client, store, batch)
            if inbox_kind == "exam":
                batch.results[source] = _exam_events(confirmed, kind_rules, client, store, batch)
            else:
                batch.results[source] = _content_events(confirmed, batch)
    return batch


def _read(
    row: InboxRow,
    payload: dict[str, Any],
    pending: dict[str, dict[str, _Pending]],
    batch: PushBatch,
) -> None:
    """A row's attempt, when it says it is final; a pushed start joins the watch."""
    aid = attempt_id_of(payload)
    if aid is None:
        batch.done.append(row.id)
        return
    key = str(aid)  # as the poll's key: the id's digits
    kind: Kind = "exam" if row.kind == "exam" else "chapter-content"
    state = pushed_state(kind, payload)
    if kind == "exam" and state == "started":
        batch.watch.append(key)
        batch.started += 1
    final = state == "completed" if kind == "exam" else state in content.FINAL_STATES
    if not final:
        batch.done.append(row.id)  # as the poll: it fires when it reaches a final state
        return
    chapter = payload.get("chapter_content")
    signed = Signed(
        key,
        _text(payload.get("user_id")),
        _text(chapter.get("id")) if isinstance(chapter, dict) else None,
    )
    pending[kind].setdefault(key, _Pending(signed, [])).rows.append(row.id)


def _text(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict | list) else str(value)


def _confirmed(
    inbox_kind: str,
    source: str,
    found: dict[str, _Pending],
    client: TestpressClient,
    store: PollStore,
    batch: PushBatch,
) -> list[tuple[_Pending, dict[str, Any]]]:
    """The fresh completions the API bears out, with the API's fields; the rest are
    done (seen before, refuted) or tried again later (the API could not be read)."""
    batch.received[source] = len(found)
    fresh = store.seen.unseen(source, found)
    batch.seen += len(found) - len(fresh)
    for key, p in found.items():
        if key not in fresh:
            batch.done += p.rows  # the poll (or an earlier push) had it
    todo = [found[k] for k in sorted(fresh, key=_num)]
    answers = confirm_all(client, [p.signed for p in todo], inbox_kind)
    out = []
    for p in todo:
        answer: Confirmation = answers[p.signed.attempt_id]
        if answer.outcome == "confirmed":
            out.append((p, answer.data))
            batch.confirmed += 1
        elif answer.outcome == "error":
            _retry(batch, p, answer.error or "the attempt could not be read")
        else:
            batch.refuted += 1  # counted in the minute's summary; each one at DEBUG
            log.debug(
                "pushed %s attempt %s not borne out by the API (%s): nothing marked seen",
                inbox_kind, p.signed.attempt_id, answer.outcome,
            )  # fmt: skip
            if inbox_kind == "exam" and answer.outcome == "not_final":
                batch.watch.append(p.signed.attempt_id)  # the poll follows it
            batch.done += p.rows
    return out


def _exam_events(
    confirmed: list[tuple[_Pending, dict[str, Any]]],
    rules: Sequence[Rule],
    client: TestpressClient,
    store: PollStore,
    batch: PushBatch,
) -> PollResult:
    """Confirmed exam completions (their detail in hand) as the poll's events."""
    result = PollResult()
    have: set[Stage] = {"list", "lookup", "detail"}
    errors: list[str] = []
    records = [data for _, data in confirmed]
    fetchers: dict[Stage, Any] = {"answers": attempts._fetchers(client)["answers"]}
    ready = enrich(records, rules, fetchers, have, errors)
    kept = {id(d) for d in ready}
    for p, data in confirmed:
        if id(data) in kept:
            batch.done += p.rows
        else:
            _retry(batch, p, "; ".join(errors[:1]) or "answers failed")
    lookups = Lookups(store.sources, client)
    needing_names = [d for d in ready if "lookup" in stages_wanted(rules, d, {"list"})]
    attempts._label(needing_names, lookups)
    matched = [d for d in ready if any(match_rule(r, Event(attempts.KIND, "", d)) for r in rules)]
    attempts._label(matched, lookups)
    result.seen = [str(d["id"]) for d in ready]
    result.events = [Event(attempts.KIND, str(d["id"]), d) for d in matched]
    _keep(result, ready, rules)
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


def _content_events(
    confirmed: list[tuple[_Pending, dict[str, Any]]], batch: PushBatch
) -> PollResult:
    """Confirmed final content attempts as events: the list's row, joined as the poll
    joins it, so every rule is judged on every field."""
    result = PollResult()
    for p, data in confirmed:
        batch.done += p.rows
        result.events.append(Event(content.KIND, p.signed.attempt_id, data))
        result.seen.append(p.signed.attempt_id)
    return result


def _retry(batch: PushBatch, pending: _Pending, error: str) -> None:
    for row in pending.rows:
        batch.retry[row] = error


def _num(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (0, key)
