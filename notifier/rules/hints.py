"""What the loader says about a name it does not know: the operator tables, the close
match, and where a misplaced key belongs (one level in or out of `when`). Pure text:
`compile.py` reports these at the key's position."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from notifier.events import FieldSpec

COMPARISON_OPS = (
    "eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "matches", "exists",
)  # fmt: skip
ORDERED_OPS = ("lt", "lte", "gt", "gte")
LIST_OPS = ("some", "every", "count")
COUNT_OPS = ("eq", "ne", "lt", "lte", "gt", "gte")
COMBINATORS = ("any", "all", "not")
# Which field types each operator applies to (eq, ne, in, not_in, exists: every type).
APPLIES_TO = {
    **{op: ("number", "time", "any") for op in ORDERED_OPS},
    "contains": ("string", "list", "any"),
    "matches": ("string", "time", "any"),
}

# What admins write for an operator, and the operator they mean.
OP_SYNONYMS = {
    "=": "eq", "==": "eq", "equals": "eq", "is": "eq", "!=": "ne", "not_eq": "ne",
    "<": "lt", "less_than": "lt", "<=": "lte", "le": "lte", ">": "gt", "greater_than": "gt",
    ">=": "gte", "ge": "gte", "one_of": "in", "nin": "not_in", "regex": "matches",
    "match": "matches", "has": "contains",
}  # fmt: skip


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_field(
    name: str,
    catalogue: Mapping[str, FieldSpec],
    where: str,
    outer_keys: frozenset[str],
    parent: tuple[str, Mapping[str, FieldSpec], str] | None,
) -> str:
    """Why `name` is not a field here: a key that belongs one level out (the rule's,
    or the event's around a list's items) or in (an operator, a list item's field),
    else the close match, else the fields there are."""
    if parent is None and name in outer_keys:
        return (
            f"'{name}' is a key of the rule, not a field: it belongs one level out, beside 'when'"
        )
    if name in COMPARISON_OPS or name in LIST_OPS:
        return (
            f"'{name}' is an operator, not a field of {where}: it belongs one level in, "
            f"under the field it tests (e.g. 'score: {{{name}: ...}}')"
        )
    if parent is not None and name in parent[1]:
        return (
            f"'{name}' is a field of {parent[0]}, not of {where}: it belongs one level "
            f"out, beside '{parent[2]}'"
        )
    for list_name, spec in catalogue.items():
        if spec.items is not None and name in spec.items:
            return (
                f"'{name}' is a field of {list_name} items, not of {where}: it belongs "
                f"one level in, e.g. '{list_name}: {{some: {{{name}: ...}}}}'"
            )
    hint = did_you_mean(name, [*catalogue, *COMBINATORS])
    if not hint:
        hint = f"; its fields are {', '.join(catalogue)}"
    return f"unknown field '{name}' for {where}{hint}"


def unknown_operator(
    op: str,
    name: str,
    spec: FieldSpec,
    allowed: tuple[str, ...],
    catalogue: Mapping[str, FieldSpec],
) -> str:
    """An operator that is not one: a field or a combinator written one level too
    deep, a synonym, a close match among those that fit the field, or the list."""
    if op in catalogue or op in COMBINATORS:
        what = "a field" if op in catalogue else "a combinator"
        return f"'{op}' is {what}, not an operator: it belongs one level out, beside '{name}'"
    fits = [o for o in allowed if o not in APPLIES_TO or spec.type in APPLIES_TO[o]]
    meant = OP_SYNONYMS.get(op.lower())
    hint = f"; did you mean '{meant}'?" if meant in fits else did_you_mean(op, fits)
    return f"unknown operator '{op}' for '{name}'{hint or '; use one of ' + ', '.join(fits)}"


def unknown_value(values: tuple[str, ...], name: str, text: object) -> str | None:
    """The problem with comparing a fixed-set field with `text`, with the closest
    allowed value; None when it is one of them. Exact, as evaluation is: `result:
    fail` is told 'Fail'."""
    if not isinstance(text, str) or text in values:
        return None
    folded = {v.casefold(): v for v in values}
    close = folded.get(text.casefold())
    if close is None:
        near = difflib.get_close_matches(text.casefold(), list(folded), n=1, cutoff=0.6)
        close = folded[near[0]] if near else None
    shown = ", ".join(f"'{v}'" for v in values)
    hint = f"; did you mean '{close}'?" if close else f"; use one of {shown}"
    return f"'{text}' is not a value of '{name}'{hint}"
