"""Compiled conditions and their pure evaluation.

A `when` compiles (in `compile.py`) to a tree of these nodes. Each node's `check(data)`
returns the reasons it held, or None when it did not; it never raises, whatever the
event data holds: a value of the wrong type makes its comparison fail.

Semantics (contract section 4): a missing or null field fails every comparison, `ne`
too; only `exists: false` and `eq: null` match it. `every` over [] holds; `some`,
`every` and `count` over a missing or null list fail.

Reasons recorded (`notifier.channels.base.Reason(field, op, expected, actual)`):
- a comparison: one per operator, e.g. ("percentile", "lt", 30, 12.5); `expected` is
  the rule's value as written (times as their ISO text), `actual` the event's value;
- `some`/`every`/`count` on a list field: one, ("answers", "count", <the count mapping
  as written>, <items matched>); for `some` `actual` is the number of items that
  matched, for `every` the list's length;
- `any`: the reasons of every branch that held; `all`: the reasons of all branches;
- `not`: one, (<the inner fields joined by ",">, "not", <the inner `when` as
  written>, {field: the event's value} for those fields).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeAlias, TypeGuard

from notifier.events import EventData, FieldType, FieldValue, JSONValue, Reason

Reasons = tuple[Reason, ...]
# A rule's value prepared for comparison at load time: the value itself, a datetime for a
# time field, a compiled pattern for `matches`, a tuple of these for `in`/`not_in`.
Prepared: TypeAlias = "FieldValue | datetime | re.Pattern[str] | tuple[Prepared, ...]"


class Cond(ABC):
    """A compiled condition over one mapping (an event's data, or one list item)."""

    @property
    @abstractmethod
    def fields(self) -> frozenset[str]:
        """The names it reads in that mapping."""

    @abstractmethod
    def check(self, data: EventData) -> Reasons | None:
        """The reasons it held, or None when it did not."""

    @abstractmethod
    def refutes(self, data: EventData) -> bool:
        """True when it fails for a known reason, not merely because a field it
        compares is missing or null: what `not` needs, so that a missing field never
        makes `not` hold (only `exists: false` and `eq: null` match a missing field)."""


@dataclass(frozen=True)
class AllOf(Cond):
    parts: tuple[Cond, ...]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset().union(*(p.fields for p in self.parts))

    def check(self, data: EventData) -> Reasons | None:
        reasons: list[Reason] = []
        for part in self.parts:
            got = part.check(data)
            if got is None:
                return None
            reasons.extend(got)
        return tuple(reasons)

    def refutes(self, data: EventData) -> bool:
        return any(part.refutes(data) for part in self.parts)


@dataclass(frozen=True)
class AnyOf(Cond):
    parts: tuple[Cond, ...]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset().union(*(p.fields for p in self.parts))

    def check(self, data: EventData) -> Reasons | None:
        held = [got for got in (p.check(data) for p in self.parts) if got is not None]
        if not held:
            return None
        return tuple(reason for got in held for reason in got)

    def refutes(self, data: EventData) -> bool:
        return all(part.refutes(data) for part in self.parts)


@dataclass(frozen=True)
class Not(Cond):
    inner: Cond
    shown: JSONValue  # the inner `when` as written

    @property
    def fields(self) -> frozenset[str]:
        return self.inner.fields

    def check(self, data: EventData) -> Reasons | None:
        if not self.inner.refutes(data):
            return None
        names = sorted(self.fields)
        actual = {name: data.get(name) for name in names}
        return (Reason(",".join(names), "not", self.shown, actual),)

    def refutes(self, data: EventData) -> bool:
        return self.inner.check(data) is not None


class Op(ABC):
    """One operator applied to one field's value."""

    op: str

    @abstractmethod
    def reason(self, field: str, actual: FieldValue) -> Reason | None: ...


@dataclass(frozen=True)
class Compare(Op):
    """`eq ne lt lte gt gte in not_in contains matches exists`, typed by the field:
    `expected` is prepared at load time (a number, a datetime, a compiled pattern, a
    tuple for in/not_in); `shown` is the value as written, for the Reason."""

    op: str
    kind: FieldType
    expected: Prepared
    shown: JSONValue

    @property
    def null_aware(self) -> bool:
        """`exists`, `eq: null` and an `in` holding null (a fixed-set field's `NA`) are
        decided for a missing field; others are not."""
        if self.op == "in":
            return isinstance(self.expected, tuple) and None in self.expected
        return self.op == "exists" or (self.op == "eq" and self.expected is None)

    def reason(self, field: str, actual: FieldValue) -> Reason | None:
        try:
            ok = self.test(actual)
        except Exception:  # a comparison must fail, never raise
            ok = False
        return Reason(field, self.op, self.shown, actual) if ok else None

    def test(self, actual: FieldValue) -> bool:
        op, expected = self.op, self.expected
        if op == "exists":
            return (actual is not None) is expected
        if actual is None:
            return self.null_aware and op != "exists"
        if op == "eq":
            return expected is not None and same(self.kind, actual, expected) is True
        if op == "ne":
            return expected is None or same(self.kind, actual, expected) is False
        if op in ORDER:
            sign = order(self.kind, actual, expected)
            return sign is not None and ORDER[op](sign)
        if op == "in":
            assert isinstance(expected, tuple)  # compile.py makes it one
            return any(same(self.kind, actual, e) is True for e in expected)
        if op == "not_in":  # a null among them (`NA`) is not this present value
            assert isinstance(expected, tuple)
            return all(e is None or same(self.kind, actual, e) is False for e in expected)
        if op == "contains":
            if isinstance(actual, str):
                return isinstance(expected, str) and expected in actual
            if isinstance(actual, list):
                return any(same("any", item, expected) is True for item in actual)
            return False
        if op == "matches":
            assert isinstance(expected, re.Pattern)
            return isinstance(actual, str) and expected.search(actual) is not None
        raise AssertionError(f"unknown operator {op}")  # pragma: no cover


ORDER = {
    "lt": lambda s: s < 0,
    "lte": lambda s: s <= 0,
    "gt": lambda s: s > 0,
    "gte": lambda s: s >= 0,
}


@dataclass(frozen=True)
class Quantifier(Op):
    """`some`/`every`/`count` over a list of objects; `where` is the item condition
    and `counts` the comparisons a `count` must pass."""

    op: str
    where: Cond
    counts: tuple[Compare, ...]
    shown: JSONValue

    def reason(self, field: str, actual: FieldValue) -> Reason | None:
        if not isinstance(actual, list):
            return None
        matched = sum(
            1 for item in actual if isinstance(item, Mapping) and self.where.check(item) is not None
        )
        if self.op == "some":
            ok, shown_actual = matched > 0, matched
        elif self.op == "every":
            ok, shown_actual = matched == len(actual), len(actual)
        else:
            ok, shown_actual = all(c.test(matched) for c in self.counts), matched
        return Reason(field, self.op, self.shown, shown_actual) if ok else None


@dataclass(frozen=True)
class FieldOps(Cond):
    """The operators given for one field; all must hold."""

    field: str
    ops: tuple[Op, ...]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset({self.field})

    def check(self, data: EventData) -> Reasons | None:
        actual = data.get(self.field)
        reasons: list[Reason] = []
        for op in self.ops:
            got = op.reason(self.field, actual)
            if got is None:
                return None
            reasons.append(got)
        return tuple(reasons)

    def refutes(self, data: EventData) -> bool:
        if self.check(data) is not None:
            return False
        actual = data.get(self.field)
        failing = [op for op in self.ops if op.reason(self.field, actual) is None]
        if actual is None:  # only the operators that match a missing field decide
            return all(isinstance(op, Compare) and op.null_aware for op in failing)
        return not any(
            isinstance(op, Quantifier) and not isinstance(actual, list) for op in failing
        )

    def pinned(self) -> JSONValue:
        """The single value this field must equal, if the operators say so."""
        for op in self.ops:
            if isinstance(op, Compare) and op.kind in ("number", "string"):
                if op.op == "eq" and op.expected is not None:
                    return op.shown
                if op.op == "in" and isinstance(op.expected, tuple) and len(op.expected) == 1:
                    return op.shown[0] if isinstance(op.shown, list) else None
        return None


# -- typed comparison -----------------------------------------------------------------


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_time(value: object) -> datetime | None:
    """An aware datetime from a datetime or an ISO 8601 string (naive means UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def same(kind: FieldType, actual: object, expected: object) -> bool | None:
    """Whether `actual` equals `expected` as a `kind` value; None when they cannot be
    compared (so `eq` and `ne` both fail)."""
    if is_number(actual) and is_number(expected):
        return bool(actual == expected)
    if kind == "time":
        a, e = as_time(actual), as_time(expected)
        return None if a is None or e is None else a == e
    if isinstance(actual, bool) and isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, str) and isinstance(expected, str):
        return actual == expected
    if kind in ("any", "list", "object") and type(actual) is type(expected):
        return bool(actual == expected)
    return None


def order(kind: FieldType, actual: object, expected: object) -> int | None:
    """-1, 0 or 1 comparing `actual` with `expected`; None when they do not compare."""
    if kind == "time":
        a, e = as_time(actual), as_time(expected)
        if a is None or e is None:
            return None
        return -1 if a < e else (1 if a > e else 0)
    if is_number(actual) and is_number(expected):
        return -1 if actual < expected else (1 if actual > expected else 0)
    return None


def prepare_time(value: object) -> datetime | None:
    """A rule's time value: an aware datetime or an ISO string with an offset."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    return None
