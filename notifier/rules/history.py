"""Rules that look at a student's history (contract section 11): pure evaluation.

The evaluator is GIVEN the history: the earlier events of the same kind (`Kept`,
oldest first) that the caller has, from the state store (`run`), from the earlier
events of one test case (`notifier test`) or from the period read (`notifier preview`).
It fetches nothing and reads no clock, so the three share one code path
(`HistoryBook` + `evaluate_in_order`).

- `repeat: {times, within | in_a_row, per}` fires on the event that makes `times`
  events matching `when` for the same `per` values, within `within` seconds or in a
  row among that key's events of this kind. Which events count is decided by running
  the rule's `when` on the kept fields of each earlier event, so a rule added today
  counts the history kept before it existed. After firing, the count starts again:
  the event it fired on is marked (`Kept.fired`) and counting stops there.
- `change: {field, drop | rise, per, same}` fires when `field` moved at least that far
  from the previous event with the same `per` and `same` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from notifier.events import EVENT_KINDS, Event, EventData, FieldValue, Kept, Reason

if TYPE_CHECKING:
    from notifier.rules.schema import Rule

DAY = 86400.0
HISTORY_MAX_DAYS = 400
# Kept even when no rule needs history yet, so a new rule has some at once.
DEFAULT_KEEP_DAYS = 30
# `in_a_row` and `change` look back as far as history is kept.
UNBOUNDED = HISTORY_MAX_DAYS * DAY
HISTORY_KINDS = ("attempt.completed", "content_attempt.completed", "conference.attendance")
# Fields kept for every event of a kind, whatever the rules compare today: what a new
# rule is most likely to count or compare, and what the wording names.
BASE_FIELDS: dict[str, tuple[str, ...]] = {
    "attempt.completed": ("user_id", "exam_id", "result", "percentage", "score"),
    "content_attempt.completed": (
        "user_id",
        "content_type",
        "chapter_content_id",
        "result",
        "percentage",
    ),
    "conference.attendance": ("conference_id", "email", "duration"),
}
TITLE_FIELD = {
    "attempt.completed": "exam_title",
    "content_attempt.completed": "title",
    "conference.attendance": "conference_title",
}
# An event's time: the first of these it has (ISO), else when the notifier saw it.
TIME_FIELDS: dict[str, tuple[str, ...]] = {
    "attempt.completed": ("last_answer_updated_time", "date"),
    "content_attempt.completed": ("completed_on", "created"),
    "conference.attendance": ("leave_time", "join_time"),
}
SCALAR_TYPES = ("number", "string", "time", "bool")
MAX_LISTED = 20  # earlier events an alert carries


@dataclass(frozen=True)
class Repeat:
    times: int
    within: float | None  # seconds; None with in_a_row
    in_a_row: bool
    per: tuple[str, ...]
    within_text: str | None = None  # as written, e.g. "30d", for the wording

    @property
    def window(self) -> float:
        return self.within if self.within is not None else UNBOUNDED

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(self.per)


@dataclass(frozen=True)
class Change:
    field: str
    drop: float | None
    rise: float | None
    per: tuple[str, ...]
    same: tuple[str, ...] = ()

    @property
    def window(self) -> float:
        return UNBOUNDED

    @property
    def fields(self) -> frozenset[str]:
        return frozenset({self.field, *self.per, *self.same})


HistorySpec = Repeat | Change


@dataclass(frozen=True)
class Hit:
    """Why a history rule fired: its reason, and the earlier events, newest first."""

    reason: Reason
    earlier: tuple[Kept, ...]


# --- what is kept -----------------------------------------------------------------------


def parse_time(value: object) -> float | None:
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def event_time(kind: str, data: EventData) -> float | None:
    """When the event happened, from its own fields (None when it says nothing)."""
    for name in TIME_FIELDS.get(kind, ()):
        at = parse_time(data.get(name))
        if at is not None:
            return at
    return None


def subject_of(kind: str, data: EventData) -> str | None:
    """The student an event is about: the user id, else the lower-cased email."""
    user = data.get("user_id")
    if user is not None and not isinstance(user, bool):
        return str(user)
    email = data.get("email")
    return f"email:{email.strip().lower()}" if isinstance(email, str) and email.strip() else None


def history_rules(rules: Iterable[Rule]) -> list[Rule]:
    return [r for r in rules if r.history is not None]


def kept_fields(rules: Iterable[Rule]) -> dict[str, frozenset[str]]:
    """Per event kind, the fields kept: the base ones and every scalar field a history
    rule compares (its `when`, `per`, `same` and `field`)."""
    out: dict[str, set[str]] = {kind: set(BASE_FIELDS[kind]) for kind in HISTORY_KINDS}
    for rule in history_rules(rules):
        if rule.event not in out:
            continue
        catalogue = EVENT_KINDS[rule.event]
        spec = rule.history
        names = set(rule.when.fields) | set(spec.per if spec else ())
        if isinstance(spec, Change):
            names |= {spec.field, *spec.same}
        out[rule.event] |= {n for n in names if catalogue[n].type in SCALAR_TYPES}
    return {kind: frozenset(names) for kind, names in out.items()}


def keep_seconds(rules: Iterable[Rule]) -> float:
    """How long history is kept: the longest window any rule uses, at least
    DEFAULT_KEEP_DAYS, at most HISTORY_MAX_DAYS."""
    windows = [r.history.window for r in history_rules(rules) if r.history is not None]
    return min(UNBOUNDED, max([DEFAULT_KEEP_DAYS * DAY, *windows]))


def to_kept(event: Event, at: float, fields: frozenset[str]) -> Kept | None:
    """The compact record of an event (None for kinds without history)."""
    if event.kind not in HISTORY_KINDS:
        return None
    data = event.data
    kept = {name: data[name] for name in sorted(fields) if data.get(name) is not None}
    title = data.get(TITLE_FIELD[event.kind])
    student = data.get("student") or data.get("name") or data.get("username")
    email = data.get("email")
    return Kept(
        event.kind,
        event.key,
        at,
        subject_of(event.kind, data),
        title if isinstance(title, str) and title else None,
        kept,
        (),
        student if isinstance(student, str) else None,
        email if isinstance(email, str) else None,
    )


# --- evaluation -------------------------------------------------------------------------


def _values(data: EventData, names: Sequence[str]) -> tuple[FieldValue, ...] | None:
    values = tuple(data.get(n) for n in names)
    return None if any(v is None for v in values) else values


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def check_history(rule: Rule, event: Event, at: float, past: Sequence[Kept]) -> Hit | None:
    """Whether a history rule fires on `event` (whose `when` already held), given the
    earlier events `past` (oldest first; others than this key's are ignored)."""
    spec = rule.history
    if spec is None:
        return None
    names = spec.per + (spec.same if isinstance(spec, Change) else ())
    mine = _values(event.data, names)
    if mine is None:
        return None
    same = [
        p
        for p in past
        if p.kind == event.kind and p.key != event.key and _values(p.fields, names) == mine
    ]
    if isinstance(spec, Change):
        return _change(spec, event, same)
    return _repeat(rule, spec, at, same)


def _repeat(rule: Rule, spec: Repeat, at: float, same: list[Kept]) -> Hit | None:
    counted: list[Kept] = []
    for p in reversed(same):  # newest first
        if rule.name in p.fired:
            break  # the count started again after the last time it fired
        if spec.within is not None and not (at - spec.within <= p.at <= at):
            continue
        if rule.when.check(p.fields) is not None:
            counted.append(p)
        elif spec.in_a_row:
            break
    count = 1 + len(counted)
    if count < spec.times:
        return None
    expected = {"times": spec.times, "within": spec.within_text, "in_a_row": spec.in_a_row}
    return Hit(Reason("history", "repeat", expected, count), tuple(counted[:MAX_LISTED]))


def _change(spec: Change, event: Event, same: list[Kept]) -> Hit | None:
    if not same:
        return None
    previous = same[-1]
    before = _number(previous.fields.get(spec.field))
    now = _number(event.data.get(spec.field))
    if before is None or now is None:
        return None
    moved = now - before
    if spec.drop is not None and -moved >= spec.drop:
        op, limit = "drop", spec.drop
    elif spec.rise is not None and moved >= spec.rise:
        op, limit = "rise", spec.rise
    else:
        return None
    reason = Reason(spec.field, op, limit, {"from": before, "to": now, "by": abs(moved)})
    return Hit(reason, (previous,))


# --- keeping history while evaluating in order -------------------------------------------


@dataclass
class HistoryBook:
    """Earlier events by (kind, subject), oldest first, plus those of the whole kind
    for rules whose `per` does not name the student. `run` seeds it from the store for
    the students of a cycle; `notifier test` and `preview` fill it as they go."""

    by_subject: dict[tuple[str, str | None], list[Kept]] = field(default_factory=dict)
    by_key: dict[tuple[str, str], Kept] = field(default_factory=dict)

    def add(self, kept: Kept) -> None:
        """Keep an event once however often it is given: the read-back of a new store
        and the poll can both record one completion, at times a second apart (the list's
        time and the detail's), and a repeat would count it twice. The later record
        stands in for the earlier."""
        earlier = self.by_key.get((kept.kind, kept.key))
        if earlier is not None:
            rows = self.by_subject.get((earlier.kind, earlier.subject), [])
            if earlier in rows:
                rows.remove(earlier)
        self.by_key[(kept.kind, kept.key)] = kept
        self.by_subject.setdefault((kept.kind, kept.subject), []).append(kept)

    def has(self, kept: Kept) -> bool:
        return (kept.kind, kept.key) in self.by_key

    def past(self, kind: str, subject: str | None, whole_kind: bool = False) -> list[Kept]:
        if not whole_kind:
            return self.by_subject.get((kind, subject), [])
        rows = [k for (kd, _), rows in self.by_subject.items() if kd == kind for k in rows]
        return sorted(rows, key=lambda k: k.at)


def whole_kind(rules: Iterable[Rule], kind: str) -> bool:
    """Whether some history rule of `kind` groups by other fields than the student's,
    so its earlier events are not all the same student's."""
    return any(
        r.event == kind and r.history is not None and "user_id" not in r.history.per for r in rules
    )


def fired_on(kept: Kept, rule_names: Iterable[str]) -> Kept:
    names = tuple(dict.fromkeys([*kept.fired, *rule_names]))
    return replace(kept, fired=names) if names != kept.fired else kept


def window_notes(rules: Iterable[Rule], since: float | None, now: float) -> list[str]:
    """`notifier check`'s notes: a history rule looking further back than history
    recorded so far works with what there is."""
    notes = []
    for rule in history_rules(rules):
        spec = rule.history
        if not isinstance(spec, Repeat) or spec.within is None:
            continue
        if since is None:
            notes.append(
                f"note: rule '{rule.name}' looks back {spec.within_text}, but no history is "
                "recorded yet; the first start reads back NOTIFIER_HISTORY_DAYS days (30 "
                "unless set) of completed attempts into it"
            )
        elif now - since < spec.within:
            days = max(0, int((now - since) // DAY))
            start = datetime.fromtimestamp(since, UTC).date().isoformat()
            notes.append(
                f"note: rule '{rule.name}' looks back {spec.within_text}, but history so far "
                f"covers {days} day{'' if days == 1 else 's'} (since {start}); it works with "
                "what there is"
            )
    return notes


def earlier_dicts(earlier: Iterable[Kept]) -> list[dict[str, FieldValue]]:
    """The `history` an alert carries: kind, key, time, title and the compared fields."""
    return [
        {
            "kind": k.kind,
            "key": k.key,
            "time": datetime.fromtimestamp(k.at, UTC).isoformat(timespec="seconds"),
            "title": k.title,
            **{name: value for name, value in k.fields.items()},
        }
        for k in earlier
    ]
