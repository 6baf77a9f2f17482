"""Rule tests (contract section 8), in the spirit of `promtool test rules`: what
`notifier test TESTS.yaml` runs (`notifier.commands.ruletest` prints it) and what the
console's Test button runs against a draft (`notifier.drafts.service`).

Each case gives events (their fields as rules see them) and every alert they should
produce: rule, channel, and text that must appear in what that channel would be sent.
The case runs through the production loader (`load_rules`), evaluator (`evaluate`) and
renderer (`notifier.delivery.render`, with the rule's templates), with no network and no state:
one notification per (match, channel), as `run` queues them. The tests file itself is
validated like the rules file, with `PATH:LINE:COL:` problems.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from notifier.channels.base import Alert, Notification
from notifier.delivery.render import (
    ZWJ,
    console_line,
    email_message,
    plain_text,
    slack_message,
    webhook_body,
)
from notifier.delivery.slack_blocks import block_texts
from notifier.events import EVENT_KINDS, Event, EventData
from notifier.rules.compile import check_keys, unique_pairs
from notifier.rules.evaluate import evaluate_in_order, step, time_of
from notifier.rules.hints import did_you_mean
from notifier.rules.history import HistoryBook, earlier_dicts, kept_fields, parse_time
from notifier.rules.load import RulesError
from notifier.rules.schema import RuleSet
from notifier.rules.templates import RuleTemplates
from notifier.rules.yamlpos import (
    Pos,
    Problem,
    Sink,
    YMap,
    YNode,
    YScalar,
    YSeq,
    parse,
    plain_map,
    type_name,
)
from notifier.text import one_line

TOP_KEYS = {"rules": False, "tests": True}
CASE_KEYS = {"name": True, "events": True, "expect": True}
EVENT_KEYS = {"event": True, "data": True, "key": False, "at": False}
EXPECT_KEYS = {"rule": True, "channel": True, "text": False}
SENT_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Expected:
    rule: str
    channel: str
    text: str | None
    pos: Pos

    def __str__(self) -> str:
        shown = f": {self.text!r}" if self.text is not None else ""
        return f"{self.rule} -> {self.channel}{shown}"


@dataclass(frozen=True)
class Got:
    rule: str
    channel: str
    text: str  # what a person reads: entities decoded, invisible joiners gone

    def __str__(self) -> str:
        first = self.text.strip().splitlines()[0] if self.text.strip() else ""
        return f"{self.rule} -> {self.channel}: {one_line(first, 300)}"


@dataclass
class Case:
    name: str
    pos: Pos
    events: list[Event] = field(default_factory=list)
    expect: list[Expected] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)  # each event's `at`, if given


@dataclass
class TestsFile:
    path: str
    rules: Path | None
    cases: list[Case]


# --- reading the tests file ------------------------------------------------------------


def load_tests(path: Path | str, env: Mapping[str, str] | None = None) -> TestsFile:
    """Read and validate a tests file; raises RulesError listing every problem."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise RulesError([Problem(shown, 1, 1, f"cannot read the tests file: {reason}")]) from None
    return load_tests_text(text, shown, Path(path), env)


def load_tests_text(
    text: str, shown: str, path: Path, env: Mapping[str, str] | None = None
) -> TestsFile:
    """`load_tests` of a tests file given as text, named `shown` in its problems; a
    `rules:` it names is read beside `path`."""
    root, problems = parse(text, shown, os.environ if env is None else env)
    sink = Sink(shown, problems)
    tests = _Reader(sink).file(root, path)
    if sink.problems or tests is None:
        raise RulesError(sink.problems)
    return tests


class _Reader:
    def __init__(self, sink: Sink):
        self.sink = sink

    def keys(self, node: YNode, table: dict[str, bool], what: str) -> dict[str, YNode] | None:
        if not isinstance(node, YMap):
            self.sink.add(node, f"{what} needs a mapping, got {type_name(node)}")
            return None
        found = check_keys(node, table, f"in {what}", what, self.sink)
        return {name: value for name, (_, value) in found.items()}

    def text(self, node: YNode, what: str) -> str | None:
        if (
            isinstance(node, YScalar)
            and node.value is not None
            and not node.broken
            and (isinstance(node.value, str) or node.plain)
        ):
            return node.text if node.plain else str(node.value)
        self.sink.add(node, f"{what} needs a string, got {type_name(node)}")
        return None

    def items(self, node: YNode, what: str) -> list[YNode]:
        if isinstance(node, YSeq):
            return node.items
        self.sink.add(node, f"'{what}' needs a list, got {type_name(node)}")
        return []

    def file(self, root: YNode | None, path: Path) -> TestsFile | None:
        if root is None:
            self.sink.add(Pos(1, 1), "the tests file is empty; it needs 'tests'")
            return None
        top = self.keys(root, TOP_KEYS, "the tests file")
        if top is None:
            return None
        rules = None
        if "rules" in top:
            given = self.text(top["rules"], "'rules'")
            rules = path.parent / given if given else None
        cases = [
            self.case(item) for item in self.items(top.get("tests", YSeq(root.pos, [])), "tests")
        ]
        return TestsFile(self.sink.path, rules, [c for c in cases if c is not None])

    def case(self, node: YNode) -> Case | None:
        found = self.keys(node, CASE_KEYS, "a test")
        if found is None:
            return None
        name = self.text(found["name"], "a test's 'name'") if "name" in found else None
        case = Case(name or "(unnamed)", node.pos)
        for i, item in enumerate(self.items(found.get("events", YSeq(node.pos, [])), "events")):
            event = self.event(item, i + 1)
            if event is not None:
                case.events.append(event)
                case.times.append(self.at(item))
        for item in self.items(found.get("expect", YSeq(node.pos, [])), "expect"):
            expected = self.expected(item)
            if expected is not None:
                case.expect.append(expected)
        return case

    def event(self, node: YNode, number: int) -> Event | None:
        found = self.keys(node, EVENT_KEYS, "an event")
        if found is None or "event" not in found:
            return None
        kind = self.text(found["event"], "'event'")
        if kind is None:
            return None
        if kind not in EVENT_KINDS:
            hint = did_you_mean(kind, EVENT_KINDS) or f"; use one of {', '.join(EVENT_KINDS)}"
            self.sink.add(found["event"], f"unknown event '{kind}'{hint}")
            return None
        data_node = found.get("data")
        if data_node is None:
            return None
        if not isinstance(data_node, YMap):
            self.sink.add(
                data_node, f"'data' needs a mapping of fields, got {type_name(data_node)}"
            )
            return None
        catalogue = EVENT_KINDS[kind]
        for name, key, _ in unique_pairs(data_node, self.sink, "in 'data'"):
            if name not in catalogue:
                hint = did_you_mean(name, catalogue)
                self.sink.add(key, f"unknown field '{name}' for {kind}{hint}")
        data = plain_map(data_node)
        given = self.text(found["key"], "'key'") if "key" in found else None
        return Event(kind, given or _default_key(kind, data, number), data)

    def at(self, node: YNode) -> float | None:
        """An event's `at`: when it happened (history rules count by it)."""
        value = node.get("at") if isinstance(node, YMap) else None
        if value is None:
            return None
        raw = value.value if isinstance(value, YScalar) else None
        when = parse_time(raw.isoformat() if isinstance(raw, datetime | date) else raw)
        if when is None or (isinstance(raw, str) and len(raw) > 10 and not _has_offset(raw)):
            got = "" if isinstance(raw, str) else f", got {type_name(value)}"
            self.sink.add(
                value, f"'at' needs a time with an offset, e.g. 2026-11-25T10:00:00+05:30{got}"
            )
            return None
        return when

    def expected(self, node: YNode) -> Expected | None:
        found = self.keys(node, EXPECT_KEYS, "an expected alert")
        if found is None or "rule" not in found or "channel" not in found:
            return None
        rule = self.text(found["rule"], "'rule'")
        channel = self.text(found["channel"], "'channel'")
        text = self.text(found["text"], "'text'") if "text" in found else None
        if rule is None or channel is None or ("text" in found and text is None):
            return None
        return Expected(rule, channel, text, node.pos)


def _has_offset(text: str) -> bool:
    return text.endswith(("Z", "z")) or "+" in text[10:] or "-" in text[10:]


def _default_key(kind: str, data: EventData, number: int) -> str:
    if kind == "conference.attendance" and data.get("conference_id") is not None:
        return f"{data['conference_id']}:{str(data.get('email') or '').lower()}"
    if kind == "notifier.health" and data.get("problem") is not None:
        key = f"{data['problem']}:{data.get('subject')}:{data.get('since')}"
        return key + (":resolved" if data.get("resolved") else "")
    if data.get("id") is not None:
        return str(data["id"])
    return f"event-{number}"


def check_references(tests: TestsFile, ruleset: RuleSet) -> None:
    """An expected alert must name a rule and a channel of the rules file."""
    sink = Sink(tests.path)
    rules = {rule.name for rule in ruleset.rules} | set(ruleset.disabled)  # never fire
    for case in tests.cases:
        for e in case.expect:
            if e.rule not in rules:
                sink.add(e.pos, f"unknown rule '{e.rule}' in expect{did_you_mean(e.rule, rules)}")
            if e.channel not in ruleset.channels:
                hint = did_you_mean(e.channel, ruleset.channels)
                sink.add(e.pos, f"undefined channel '{e.channel}' in expect{hint}")
    if sink.problems:
        raise RulesError(sink.problems)


# --- running ---------------------------------------------------------------------------


def readable(text: str) -> str:
    return html.unescape(text).replace(ZWJ, "")


def rendered(n: Notification, channel_type: str, t: RuleTemplates | None) -> str:
    """What the channel would be sent, as a person reads it."""
    if channel_type == "slack":
        text, blocks = slack_message(n, t)
        parts = [text, *block_texts(blocks)]
        return readable("\n".join(parts))
    if channel_type == "email":
        subject, body, _ = email_message(n, t)
        return f"{subject}\n{body}"
    if channel_type == "webhook":
        return str(webhook_body(n, SENT_AT, t)["text"])
    if channel_type == "console":
        return console_line(n, t)
    return plain_text(n, t)


def alerts_of(
    ruleset: RuleSet, events: list[Event], times: list[float | None] | None = None
) -> list[Got]:
    """Every alert the events produce, in order: one per (match, channel). History is
    kept across the events, in the order given; an event's time is its `at`, else its
    own time field, else a minute after the event before it."""
    fields = kept_fields(ruleset.rules)
    steps = []
    clock = SENT_AT.timestamp()
    for i, event in enumerate(events):
        given = times[i] if times and i < len(times) else None
        at = given if given is not None else time_of(event, clock + 60)
        clock = at
        steps.append(step(event, at, fields))
    matches, _ = evaluate_in_order(ruleset.rules, steps, HistoryBook())
    got = []
    index = {id(e): i for i, e in enumerate(events)}
    for match in matches:
        event = match.event
        i = index.get(id(event), 0)
        data = event.data
        if match.rule.history is not None:
            data = {**data, "history": earlier_dicts(match.history)}
        alert = Alert(event.kind, event.key, data, match.reasons)
        for channel in match.rule.notify:
            n = Notification(f"test-{i}", match.rule.name, channel, (alert,))
            kind = ruleset.channels[channel].type
            got.append(Got(match.rule.name, channel, rendered(n, kind, match.rule.templates)))
    return got


def diff(expected: list[Expected], got: list[Got]) -> list[str]:
    """Empty when every expected alert was produced (text included) and nothing else;
    otherwise diff lines: `-` expected but missing, `+` produced but not expected."""
    unmatched = list(got)
    lines: list[str] = []
    missing = False
    for e in expected:
        hit = next(
            (
                g
                for g in unmatched
                if (g.rule, g.channel) == (e.rule, e.channel)
                and (e.text is None or e.text in g.text)
            ),
            None,
        )
        if hit is None:
            missing = True
            lines.append(f"- {e}")
        else:
            unmatched.remove(hit)
            lines.append(f"  {e}")
    if not missing and not unmatched:
        return []
    return lines + [f"+ {g}" for g in unmatched]


@dataclass(frozen=True)
class CaseResult:
    """One case run: where it is in its file, and its diff (empty when it passed)."""

    name: str
    where: str  # PATH:LINE:COL of the case
    diff: list[str]

    @property
    def passed(self) -> bool:
        return not self.diff


def run_cases(tests: TestsFile, ruleset: RuleSet) -> list[CaseResult]:
    """Every case of `tests` against `ruleset`; RulesError when an expected alert names
    a rule or channel the rules do not have."""
    check_references(tests, ruleset)
    return [
        CaseResult(
            case.name,
            f"{tests.path}:{case.pos.line}:{case.pos.col}",
            diff(case.expect, alerts_of(ruleset, case.events, case.times)),
        )
        for case in tests.cases
    ]
