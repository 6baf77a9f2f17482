"""Reading a rule's delivery policy (`group_by`, `group_wait`, `group_interval`,
`digest`, `quiet_hours`, `throttle`, `urgent`) and a channel's `quiet_hours` from the
rules file, with located problems. What the policy means lives in notifier.rules.policy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import time
from typing import TypedDict, TypeVar

from notifier.events import FieldSpec
from notifier.rules.compile import check_keys
from notifier.rules.hints import did_you_mean
from notifier.rules.policy import (
    Digest,
    Policy,
    QuietHours,
    Throttle,
    parse_clock,
    parse_duration,
    parse_zone,
)
from notifier.rules.yamlpos import (
    Sink,
    YAMLScalar,
    YMap,
    YNode,
    YScalar,
    YSeq,
    is_broken,
    type_name,
)

T = TypeVar("T")

POLICY_KEYS = (
    "group_by",
    "group_wait",
    "group_interval",
    "digest",
    "quiet_hours",
    "throttle",
    "urgent",
)
QUIET_KEYS = {"from": True, "to": True, "timezone": True}
DIGEST_KEYS = {"at": True, "timezone": True}


class _PolicyFields(TypedDict, total=False):
    """The policy keys the rule gives, read and checked (the rest keep Policy's defaults)."""

    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    digest: Digest
    quiet_hours: QuietHours
    throttle: Throttle
    urgent: bool


THROTTLE_KEYS = {"by": True, "within": True}


def read_policy(
    found: Mapping[str, tuple[YNode, YNode]],
    catalogue: Mapping[str, FieldSpec],
    event: str,
    sink: Sink,
) -> Policy:
    """The rule's policy; problems go to `sink` (the caller drops the rule then)."""
    reader = _Reader(sink)
    values: _PolicyFields = {}
    given = {key: value for key, (_, value) in found.items()}
    if "group_by" in given:
        group_by = reader.fields(given["group_by"], catalogue, event, "group_by")
        if group_by is not None:
            values["group_by"] = group_by
    if "group_wait" in given:
        wait = reader.duration(given["group_wait"], "group_wait")
        if wait is not None:
            values["group_wait"] = wait
    if "group_interval" in given:
        every = reader.duration(given["group_interval"], "group_interval")
        if every is not None:
            values["group_interval"] = every
    if "digest" in given:
        digest = reader.digest(given["digest"])
        if digest is not None:
            values["digest"] = digest
    if "quiet_hours" in given:
        quiet = reader.quiet_hours(given["quiet_hours"])
        if quiet is not None:
            values["quiet_hours"] = quiet
    if "throttle" in given:
        throttle = reader.throttle(given["throttle"], catalogue, event)
        if throttle is not None:
            values["throttle"] = throttle
    if "urgent" in found:
        node = found["urgent"][1]
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            values["urgent"] = node.value
        else:
            sink.add(node, f"'urgent' needs true or false, got {type_name(node)}")
    _exclusive(found, sink)
    return Policy(**values)


def read_quiet_hours(node: YNode, sink: Sink) -> QuietHours | None:
    return _Reader(sink).quiet_hours(node)


def _exclusive(found: Mapping[str, tuple[YNode, YNode]], sink: Sink) -> None:
    if "digest" in found:
        for other in ("group_by", "throttle"):
            if other in found:
                sink.add(found[other][0], f"'{other}' cannot be combined with 'digest'")
    if "throttle" in found and "group_by" in found:
        sink.add(found["throttle"][0], "'throttle' cannot be combined with 'group_by'")
    for key in ("group_wait", "group_interval"):
        if key in found and "group_by" not in found:
            sink.add(found[key][0], f"'{key}' needs 'group_by'")


class _Reader:
    def __init__(self, sink: Sink):
        self.sink = sink

    def mapping(
        self, node: YNode, table: dict[str, bool], what: str, example: str
    ) -> dict[str, YNode] | None:
        if not isinstance(node, YMap):
            self.sink.add(node, f"'{what}' needs a mapping like {example}, got {type_name(node)}")
            return None
        found = check_keys(node, table, f"in {what}", f"'{what}'", self.sink)
        out = {name: value for name, (_, value) in found.items()}
        if len(out) != len(table) or is_broken(node):
            return None
        return out

    def scalar(self, node: YNode, what: str, parse: Callable[[YAMLScalar], T]) -> T | None:
        if not isinstance(node, YScalar) or node.broken:
            if not (isinstance(node, YScalar) and node.broken):
                self.sink.add(node, f"'{what}' needs a single value, got {type_name(node)}")
            return None
        try:
            return parse(node.value if not isinstance(node.value, str) else node.text)
        except ValueError as exc:
            self.sink.add(node, f"'{what}': {exc}")
            return None

    def duration(self, node: YNode, what: str) -> float | None:
        return self.scalar(node, what, parse_duration)

    def fields(
        self, node: YNode, catalogue: Mapping[str, FieldSpec], event: str, what: str
    ) -> tuple[str, ...] | None:
        if not isinstance(node, YSeq) or not node.items:
            self.sink.add(node, f"'{what}' needs a list of field names, e.g. [exam_id]")
            return None
        names = []
        for item in node.items:
            value = item.value if isinstance(item, YScalar) else None
            if not isinstance(value, str):
                self.sink.add(item, f"'{what}' needs field names, got {type_name(item)}")
            elif value not in catalogue:
                hint = did_you_mean(value, catalogue)
                self.sink.add(item, f"unknown field '{value}' for {event}{hint}")
            else:
                names.append(value)
        return tuple(names) if len(names) == len(node.items) else None

    def quiet_hours(self, node: YNode) -> QuietHours | None:
        example = '{from: "21:00", to: "07:00", timezone: Asia/Kolkata}'
        parts = self.mapping(node, QUIET_KEYS, "quiet_hours", example)
        if parts is None:
            return None
        start = self.scalar(parts["from"], "from", parse_clock)
        end = self.scalar(parts["to"], "to", parse_clock)
        zone = self.scalar(parts["timezone"], "timezone", parse_zone)
        if start is None or end is None or zone is None:
            return None
        if start == end:
            self.sink.add(parts["to"], "'quiet_hours' needs 'to' to differ from 'from'")
            return None
        return QuietHours(start, end, zone)

    def digest(self, node: YNode) -> Digest | None:
        parts = self.mapping(node, DIGEST_KEYS, "digest", '{at: "18:00", timezone: Asia/Kolkata}')
        if parts is None:
            return None
        at = parts["at"]
        items = at.items if isinstance(at, YSeq) else [at]
        times = [self.scalar(item, "at", parse_clock) for item in items]
        clocks: list[time] = [t for t in times if t is not None]
        zone = self.scalar(parts["timezone"], "timezone", parse_zone)
        if not items or len(clocks) != len(times) or zone is None:
            if not items:
                self.sink.add(at, "'at' needs at least one time of day")
            return None
        return Digest(tuple(sorted(set(clocks))), zone)

    def throttle(
        self, node: YNode, catalogue: Mapping[str, FieldSpec], event: str
    ) -> Throttle | None:
        parts = self.mapping(node, THROTTLE_KEYS, "throttle", "{by: [user_id], within: 1d}")
        if parts is None:
            return None
        by = self.fields(parts["by"], catalogue, event, "by")
        within = self.duration(parts["within"], "within")
        if by is None or within is None:
            return None
        if within <= 0:
            self.sink.add(parts["within"], "'within' needs a duration above zero")
            return None
        return Throttle(by, within)
