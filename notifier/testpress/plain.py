"""The Testpress models' common case in plain Python, pydantic for the rest.

Nearly every field of the models is a value one of our own coercions
(`notifier.testpress.parse`) decides alone: pydantic calls the function, then checks
that `int | None` holds an int (the others pass through: booleans, nested records,
values kept as sent).
For a record whose values are all of the kinds the API really sends, that is a Python
call per field made through pydantic-core, then `model_dump` to get a dict back: about
120 µs of a detail's 150 (`docs/performance.md`, figure a), on the thread that holds
the GIL the other requests wait for. Here each model's fields become a plan (the same
coercion per field, in the same order) applied to the dict directly; a record the plan
cannot decide (a missing id, a value of an odd kind, anything a coercion refuses) is
validated by pydantic as before, which gives the same answer or the same warning.

`tests/test_plain.py` holds the two to the same output on arbitrary records (Hypothesis).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from functools import cache
from typing import NamedTuple, TypeVar, cast

from pydantic import BeforeValidator
from pydantic.fields import FieldInfo

from notifier.events import FieldValue
from notifier.testpress.models import Records, TestpressModel, parse_records
from notifier.testpress.parse import (
    is_null,
    to_count,
    to_float,
    to_id,
    to_ref,
    to_seconds,
    to_text,
    to_time,
)
from notifier.testpress.safetext import clean_deep

__all__ = ["parse_data"]

M = TypeVar("M", bound=TestpressModel)
Data = dict[str, FieldValue]
Coerce = Callable[[object], object]

# Coercions whose result pydantic's type check passes unchanged (an int for `int`, a
# float for `float`, a str for `str`, or None where the field allows it).
_EXACT: frozenset[Coerce] = frozenset(
    {to_id, to_ref, to_count, to_float, to_seconds, to_time, to_text}
)


class _Undecided(Exception):
    """The plan cannot decide this record: pydantic validates it."""


def parse_data(model: type[M], raw: object, *, where: str, cleaned: bool = False) -> list[Data]:
    """`[r.to_data() for r in parse_records(model, raw, ...)]`, the same records and
    warnings, with the common case decided without pydantic."""
    plan = _plan(model)
    if plan is None or not isinstance(raw, list):
        return [r.to_data() for r in parse_records(model, raw, where=where, cleaned=cleaned)]
    out: list[Data] = []
    for index, item in enumerate(raw):
        if type(item) is dict:
            try:
                out.append(
                    _apply(plan, cast("dict[str, object]", item if cleaned else clean_deep(item)))
                )
                continue
            except Exception:  # noqa: BLE001 - undecided here: pydantic says what is wrong
                pass
        out += [
            r.to_data()
            for r in parse_records(model, [item], where=where, cleaned=cleaned, start=index)
        ]
    return out


def _apply(plan: Plan, item: dict[str, object]) -> Data:
    """The record's dict as `model_dump` gives it: every field in declaration order,
    then the extras in the record's order; "NA", "N/A" and "" null everywhere.

    A missing field is None, what every coercion but `to_id` makes of None (pydantic
    leaves a missing field at its default, None; `to_id(None)` refuses, as pydantic
    does a missing id). Each coercion reads the null strings itself."""
    get = item.get
    out: dict[str, object] = {name: coerce(get(name)) for name, coerce in plan.fields}
    extras = item.keys() - plan.names
    if extras:  # kept as sent, in the record's order
        for key, value in item.items():
            if key in extras:
                if type(key) is not str:
                    raise _Undecided
                out[key] = _same(value)
    if plan.nested:
        values = [_same(get(name)) for name, _ in plan.nested]
        if any(v is not None and type(v) is not list for v in values):
            raise _Undecided  # before any nested record is read (and perhaps logged)
        for (name, coerce), value in zip(plan.nested, values, strict=True):
            out[name] = coerce(value)
    return cast(Data, out)  # each coercion gives a JSON value, as pydantic's check says


class Plan(NamedTuple):
    fields: tuple[tuple[str, Coerce], ...]  # nested lists are None here, filled last
    nested: tuple[tuple[str, Coerce], ...]  # nested lists may log a skipped record
    names: frozenset[str]


@cache
def _plan(model: type[TestpressModel]) -> Plan | None:
    """A coercion per field, or None when some field is of a kind the plan does not
    take (an alias, a validator of another kind, a required field but `id`): that
    model is always left to pydantic."""
    fields: list[tuple[str, Coerce]] = []
    nested: list[tuple[str, Coerce]] = []
    for name, field in model.model_fields.items():
        coerce = _coercion(field)
        if coerce is None or (field.is_required() and coerce is not to_id):
            return None
        if isinstance(coerce, _Nested):
            nested.append((name, coerce))
            coerce = _same  # None until the nested records are read
        fields.append((name, coerce))
    return Plan(tuple(fields), tuple(nested), frozenset(model.model_fields))


def _coercion(field: FieldInfo) -> Coerce | None:
    if field.alias is not None or field.validation_alias is not None:
        return None
    if not field.is_required() and field.default is not None:
        return None
    befores = [m for m in field.metadata if isinstance(m, BeforeValidator)]
    if len(befores) != len(field.metadata) or len(befores) > 1:
        return None
    if befores:
        func = befores[0].func
        if func in _EXACT:
            return func
        if isinstance(func, Records):
            model: type[TestpressModel] = func.model
            return _Nested(model, func.where) if _plan(model) is not None else None
        return None
    annotation = field.annotation
    if annotation is object:
        return _same
    if annotation == bool | None:
        return _bool
    if annotation == dict[str, object] | None:
        return _dict
    if annotation == list[object] | None:
        return _list
    args = typing.get_args(annotation)
    if (
        typing.get_origin(annotation) in (types.UnionType, typing.Union)
        and len(args) == 2
        and args[1] is type(None)
        and isinstance(args[0], type)
        and issubclass(args[0], TestpressModel)
        and _plan(args[0]) is not None
    ):
        return _One(args[0])
    return None


class _Nested:
    """A list of records validated item by item, like a page (`models.Records`)."""

    def __init__(self, model: type[TestpressModel], where: str) -> None:
        self.model = model
        self.where = where

    def __call__(self, value: object) -> list[Data] | None:
        if value is None:
            return None
        if type(value) is not list:
            raise _Undecided
        return parse_data(self.model, value, where=self.where, cleaned=True)


class _One:
    """One nested record (a user video conference's conference)."""

    def __init__(self, model: type[TestpressModel]) -> None:
        self.model = model
        self.plan = _plan(model)

    def __call__(self, value: object) -> Data | None:
        value = _same(value)
        if value is None:
            return None
        if type(value) is not dict or self.plan is None:
            raise _Undecided
        return _apply(self.plan, value)


def _same(value: object) -> object:
    """As sent, but a null string is None (the base model's validator)."""
    return None if type(value) is str and is_null(value) else value


def _bool(value: object) -> bool | None:
    value = _same(value)
    if value is None or type(value) is bool:
        return value
    raise _Undecided  # pydantic's lax reading of 1, "yes", "off"...


def _dict(value: object) -> dict[str, object] | None:
    value = _same(value)
    if value is None:
        return None
    if type(value) is dict and all(type(k) is str for k in value):
        return dict(value)
    raise _Undecided


def _list(value: object) -> list[object] | None:
    value = _same(value)
    if value is None:
        return None
    if type(value) is list:
        return list(value)
    raise _Undecided
