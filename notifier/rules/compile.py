"""Compile a rule's `when` into conditions, checking it against the event's field
catalogue (notifier.events.EVENT_KINDS): unknown fields and operators (with a close
match), operators that do not fit the field's type, values of the wrong type, invalid
regular expressions. Every problem is reported; compiling goes on past the first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from notifier.events import FieldSpec, JSONValue
from notifier.rules.conditions import (
    AllOf,
    AnyOf,
    Compare,
    Cond,
    FieldOps,
    Not,
    Op,
    Prepared,
    Quantifier,
    is_number,
    prepare_time,
)
from notifier.rules.hints import (
    APPLIES_TO,
    COMPARISON_OPS,
    COUNT_OPS,
    LIST_OPS,
    ORDERED_OPS,
    did_you_mean,
    unknown_field,
    unknown_operator,
    unknown_value,
)
from notifier.rules.yamlpos import Sink, YMap, YNode, YScalar, YSeq, key_name, to_plain, type_name

TIME_EXAMPLE = "2026-11-25T10:00:00+05:30"


def check_keys(
    node: YMap,
    table: Mapping[str, bool],
    where: str,
    owner: str,
    sink: Sink,
    misplaced: Callable[[str], str | None] | None = None,
) -> dict[str, tuple[YNode, YNode]]:
    """Check a mapping against a key table (name -> required?): duplicates, unknown
    keys (with a close match) and missing required keys, each reported where it is.
    Returns name -> (key node, value node). `where` reads "in rule", `owner` "a rule".
    `misplaced` says where an unknown key belongs instead, when it knows."""
    found: dict[str, tuple[YNode, YNode]] = {}
    for name, key, value in unique_pairs(node, sink, where):
        if name in table:
            found[name] = (key, value)
        elif misplaced is not None and (moved := misplaced(name)) is not None:
            sink.add(key, moved)
        else:
            sink.add(key, f"unknown key '{name}' {where}{did_you_mean(name, table)}")
    for name, required in table.items():
        if required and name not in found:
            sink.add(node, f"{owner} needs '{name}'")
    return found


def unique_pairs(node: YMap, sink: Sink, where: str) -> list[tuple[str, YNode, YNode]]:
    """The mapping's pairs, reporting each repeated key where it appears again."""
    seen: set[str] = set()
    pairs = []
    for k, v in node.pairs:
        name = key_name(k)
        if name in seen:
            sink.add(k, f"duplicate key '{name}' {where}")
            continue
        seen.add(name)
        pairs.append((name, k, v))
    return pairs


class Compiler:
    def __init__(self, sink: Sink, outer_keys: Iterable[str] = ()):
        """`outer_keys` are the keys of the rule around a `when` (name, notify, ...),
        so one written inside `when` is told it belongs one level out."""
        self.sink = sink
        self.outer_keys = frozenset(outer_keys)
        # (where, catalogue, list field) of each list whose item `when` is being read
        self._parents: list[tuple[str, Mapping[str, FieldSpec], str]] = []

    def when(
        self,
        node: YNode | None,
        catalogue: Mapping[str, FieldSpec],
        where: str,
        label: str = "'when'",
    ) -> AllOf | None:
        """A `when` mapping as an AllOf of its parts (nested `all`s flattened, so
        prefiltering can test each part alone); None when it has problems."""
        if node is None or (isinstance(node, YScalar) and node.value is None and not node.broken):
            return AllOf(())
        if isinstance(node, YScalar) and node.broken:
            return None
        if not isinstance(node, YMap):
            self.sink.add(
                node, f"{label} needs a mapping of field names to conditions, got {type_name(node)}"
            )
            return None
        parts: list[Cond] = []
        ok = True
        for name, key, value in unique_pairs(node, self.sink, f"in {label}"):
            part: Cond | None
            if name in ("any", "all"):
                part = self._combine(name, value, catalogue, where)
            elif name == "not":
                inner = self.when(value, catalogue, where, "'not'")
                part = None if inner is None else Not(inner, to_plain(value))
            elif name in catalogue:
                part = self.field(name, catalogue[name], value, catalogue, where)
            else:
                self.sink.add(key, self.unknown_field(name, catalogue, where))
                part = None
            if part is None:
                ok = False
            elif isinstance(part, AllOf):
                parts.extend(part.parts)
            else:
                parts.append(part)
        return AllOf(tuple(parts)) if ok else None

    def unknown_field(self, name: str, catalogue: Mapping[str, FieldSpec], where: str) -> str:
        parent = self._parents[-1] if self._parents else None
        return unknown_field(name, catalogue, where, self.outer_keys, parent)

    def _combine(
        self, name: str, node: YNode, catalogue: Mapping[str, FieldSpec], where: str
    ) -> Cond | None:
        if not isinstance(node, YSeq) or not node.items:
            self.sink.add(node, f"'{name}' needs a non-empty list of conditions")
            return None
        branches = [
            self.when(item, catalogue, where, f"each item of '{name}'") for item in node.items
        ]
        if any(b is None for b in branches):
            return None
        kept = tuple(b for b in branches if b is not None)
        return AnyOf(kept) if name == "any" else AllOf(kept)

    def field(
        self,
        name: str,
        spec: FieldSpec,
        node: YNode,
        catalogue: Mapping[str, FieldSpec],
        where: str,
    ) -> FieldOps | None:
        """One field's condition: a bare value (eq) or a mapping of operators."""
        if isinstance(node, YSeq):
            self.sink.add(
                node,
                f"'{name}' needs a value or a mapping of operators, got a list"
                " (use 'in' to match any of several values)",
            )
            return None
        if isinstance(node, YScalar):
            op = self.compare("eq", spec, name, node, node)
            return None if op is None else FieldOps(name, (op,))
        if not node.pairs:
            self.sink.add(node, f"no operator given for '{name}'")
            return None
        allowed = COMPARISON_OPS + (LIST_OPS if spec.items is not None else ())
        ops: list[Op] = []
        ok = True
        for op_name, key, value in unique_pairs(node, self.sink, f"for '{name}'"):
            got: Op | None = None
            if op_name in COMPARISON_OPS:
                got = self.compare(op_name, spec, name, key, value)
            elif op_name in LIST_OPS and spec.items is not None:
                self._parents.append((where, catalogue, name))
                try:
                    got = self.quantifier(op_name, spec.items, name, value)
                finally:
                    self._parents.pop()
            elif op_name in LIST_OPS:
                self.sink.add(
                    key, f"'{op_name}' needs a list of objects; '{name}' is a {spec.type} field"
                )
            else:
                self.sink.add(key, unknown_operator(op_name, name, spec, allowed, catalogue))
            if got is None:
                ok = False
            else:
                ops.append(got)
        return FieldOps(name, tuple(ops)) if ok else None

    def compare(
        self, op: str, spec: FieldSpec, name: str, key: YNode, node: YNode
    ) -> Compare | None:
        kind = spec.type
        if isinstance(node, YScalar) and node.broken:
            return None
        label = f"'{op}' on '{name}'" if key is not node else f"'{name}'"
        if op in APPLIES_TO and kind not in APPLIES_TO[op]:
            needs = " or ".join(t for t in APPLIES_TO[op] if t != "any")
            self.sink.add(key, f"'{op}' needs a {needs} field; '{name}' is a {kind} field")
            return None
        if op == "exists":
            if isinstance(node, YScalar) and isinstance(node.value, bool):
                return Compare(op, kind, node.value, node.value)
            self.sink.add(node, f"'exists' needs true or false, got {type_name(node)}")
            return None
        if op in ("eq", "ne") and isinstance(node, YScalar) and node.value is None:
            return Compare(op, kind, None, None)
        if op in ("in", "not_in"):
            if not isinstance(node, YSeq):
                self.sink.add(node, f"{label} needs a list, got {type_name(node)}")
                return None
            values = [self.value(kind, item, f"each item of {label}") for item in node.items]
            if any(v is None for v in values):
                return None
            if not all(self.known(spec, name, item) for item in node.items):
                return None
            return Compare(
                op,
                kind,
                tuple(_fixed(spec, v[0]) for v in values if v),
                [v[1] for v in values if v],
            )
        if op == "contains" and kind != "string":
            if isinstance(node, YScalar) and node.value is not None:
                return Compare(op, kind, to_plain(node), to_plain(node))
            self.sink.add(node, f"{label} needs a single value, got {type_name(node)}")
            return None
        if op == "matches":
            got = self.value("string", node, label)
            if got is None or not isinstance(got[0], str):  # a string field's value is text
                return None
            try:
                pattern = re.compile(got[0])
            except re.error as exc:
                self.sink.add(node, f"invalid regular expression for '{name}': {exc}")
                return None
            return Compare(op, kind, pattern, got[1])
        value_kind = "number" if op in ORDERED_OPS and kind == "any" else kind
        got = self.value(value_kind, node, label)
        if got is None or (op in ("eq", "ne") and not self.known(spec, name, node)):
            return None
        return Compare(op, kind, _fixed(spec, got[0]), got[1])

    def known(self, spec: FieldSpec, name: str, node: YNode) -> bool:
        """False, after reporting it, when a field with a fixed set of values is
        compared with another value: it would silently never match."""
        if spec.values is None or not isinstance(node, YScalar):
            return True
        text = node.text if node.plain else node.value
        problem = unknown_value(spec.values, name, text)
        if problem is not None:
            self.sink.add(node, problem)
        return problem is None

    def value(self, kind: str, node: YNode, label: str) -> tuple[Prepared, JSONValue] | None:
        """(the value prepared for comparison, the value as written) for a `kind`
        field; None after reporting a value of the wrong type."""
        if kind in ("list", "object", "any"):
            plain = to_plain(node)
            if plain is None:
                self.sink.add(node, f"{label} needs a value, got null")
                return None
            return plain, plain
        if not isinstance(node, YScalar) or node.value is None:
            wanted = {"number": "a number", "string": "a string", "bool": "true or false"}
            what = wanted.get(kind, f"a time with an offset, e.g. {TIME_EXAMPLE}")
            self.sink.add(node, f"{label} needs {what}, got {type_name(node)}")
            return None
        value = node.value
        if node.interpolated and isinstance(value, str) and kind in ("number", "bool"):
            # `lt: "${THRESHOLD:-30}"`: quoted so YAML keeps it whole, a number all the same.
            value = _typed(value, kind)
        if kind == "number" and is_number(value):
            return value, value
        if kind == "bool" and isinstance(value, bool):
            return value, value
        if kind == "string":
            # An unquoted `yes` or `133` is still the text written for a string field.
            text = node.text if node.plain else value
            if isinstance(text, str):
                return text, text
        if kind == "time":
            when = prepare_time(value)
            if when is not None:
                return when, node.text
            self.sink.add(node, f"{label} needs a time with an offset, e.g. {TIME_EXAMPLE}")
            return None
        needed = {"number": "a number", "bool": "true or false"}.get(kind, "a string")
        self.sink.add(node, f"{label} needs {needed}, got {type_name(node)}")
        return None

    def quantifier(
        self, op: str, items: Mapping[str, FieldSpec], name: str, node: YNode
    ) -> Quantifier | None:
        where = f"{name} items"
        if op != "count":
            inner = self.when(node, items, where, f"'{op}'")
            return None if inner is None else Quantifier(op, inner, (), to_plain(node))
        if not isinstance(node, YMap):
            self.sink.add(
                node, f"'count' needs a mapping like {{where: ..., gte: 3}}, got {type_name(node)}"
            )
            return None
        inner_cond: Cond | None = AllOf(())
        counts: list[Compare] = []
        ok = True
        for key_text, key, value in unique_pairs(node, self.sink, "in 'count'"):
            if key_text == "where":
                inner_cond = self.when(value, items, where, "'where'")
                ok = ok and inner_cond is not None
            elif key_text in COUNT_OPS:
                if isinstance(value, YScalar) and is_number(value.value):
                    counts.append(Compare(key_text, "number", value.value, value.value))
                else:
                    self.sink.add(
                        value, f"'{key_text}' in 'count' needs a number, got {type_name(value)}"
                    )
                    ok = False
            else:
                hint = did_you_mean(key_text, ("where", *COUNT_OPS))
                self.sink.add(key, f"unknown key '{key_text}' in 'count'{hint}")
                ok = False
        if ok and not counts:
            self.sink.add(node, "'count' needs a comparison, e.g. {where: ..., gte: 3}")
            return None
        if not ok or inner_cond is None:
            return None
        return Quantifier(op, inner_cond, tuple(counts), to_plain(node))


def _fixed(spec: FieldSpec, value: Prepared) -> Prepared:
    """A fixed-set field's `NA` compared as null: events carry every "NA" as null."""
    return None if spec.values is not None and value == "NA" else value


def _typed(text: str, kind: str) -> str | int | float | bool:
    """An interpolated value's text read as a number or a boolean, else unchanged."""
    if kind == "bool":
        return {"true": True, "false": False}.get(text.strip().lower(), text)
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number
