"""Reading a rule's delivery policy (`group_by`, `group_wait`, `group_interval`,
`digest`, `quiet_hours`, `throttle`, `urgent`) and a channel's `quiet_hours` from the
rules file, with located problems. What the policy means lives in notifier.rules.policy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
from notifier.rules.yamlpos import Sink, YMap, YNode, YScalar, YSeq, is_broken, type_name

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
THROTTLE_KEYS = {"by": True, "within": True}


def read_policy(
    found: Mapping[str, tuple[YNode, YNode]],
    catalogue: Mapping[str, FieldSpec],
    event: str,
    sink: Sink,
) -> Policy:
    """The rule's policy; problems go to `sink` (the caller drops the rule then)."""
    reader = _Reader(sink)
    values: dict[str, Any] = {}
    if "group_by" in found:
        values["group_by"] = reader.fields(found["group_by"][1], catalogue, event, "group_by")
    for key in ("group_wait", "group_interval"):
        if key in found:
            values[key] = reader.duration(found[key][1], key)
    if "digest" in found:
        values["digest"] = reader.digest(found["digest"][1])
    if "quiet_hours" in found:
        values["quiet_hours"] = reader.quiet_hours(found["quiet_hours"][1])
    if "throttle" in found:
        values["throttle"] = reader.throttle(found["throttle"][1], catalogue, event)
    if "urgent" in found:
        node = found["urgent"][1]
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            values["urgent"] = node.value
        else:
            sink.add(node, f"'urgent' needs true or false, got {type_name(node)}")
    _exclusive(found, sink)
    clean = {k: v for k, v in values.items() if v is not None}
    return Policy(**clean)


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

    def scalar(self, node: YNode, what: str, parse: Callable[[Any], Any]) -> Any:
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
        seconds: float | None = self.scalar(node, what, parse_duration)
        return seconds

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
        zone = self.scalar(parts["timezone"], "timezone", parse_zone)
        if not items or None in times or zone is None:
            if not items:
                self.sink.add(at, "'at' needs at least one time of day")
            return None
        return Digest(tuple(sorted(set(times))), zone)

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
