"""Reading a rule's `repeat` and `change` (contract section 11) from the rules file, with
located problems. What they mean lives in notifier.rules.history."""

from __future__ import annotations

from collections.abc import Mapping

from notifier.events import FieldSpec
from notifier.rules.compile import check_keys
from notifier.rules.conditions import AllOf, is_number
from notifier.rules.hints import did_you_mean
from notifier.rules.history import SCALAR_TYPES, Change, HistorySpec, Repeat
from notifier.rules.policies import _Reader
from notifier.rules.yamlpos import Sink, YMap, YNode, YScalar, YSeq, is_broken, type_name

REPEAT_KEYS = {"times": True, "within": False, "in_a_row": False, "per": False}
CHANGE_KEYS = {"field": True, "drop": False, "rise": False, "per": False, "same": False}
HISTORY_KEYS = ("repeat", "change")
DEFAULT_PER = ("user_id",)
# A live class's attendance has no user id: its student is the email.
DEFAULT_PER_OF = {"conference.attendance": ("email",)}
NO_HISTORY_KINDS = ("student.inactive",)


def read_history(
    found: Mapping[str, tuple[YNode, YNode]],
    catalogue: Mapping[str, FieldSpec],
    event: str,
    when: AllOf | None,
    sink: Sink,
) -> HistorySpec | None:
    """The rule's `repeat` or `change`, or None (problems go to `sink`)."""
    given = [k for k in HISTORY_KEYS if k in found]
    if not given:
        return None
    if len(given) > 1:
        sink.add(found["change"][0], "'change' cannot be combined with 'repeat'")
        return None
    key = given[0]
    key_node, node = found[key]
    if event in NO_HISTORY_KINDS:
        sink.add(
            key_node,
            f"'{key}' does not apply to {event}: it is about a student's history already "
            "(use 'when: {days_inactive: {gte: 7}}')",
        )
        return None
    reader = _HistoryReader(sink, catalogue, event)
    if key == "repeat":
        return reader.repeat(node, when)
    return reader.change(node)


class _HistoryReader(_Reader):
    def __init__(self, sink: Sink, catalogue: Mapping[str, FieldSpec], event: str):
        super().__init__(sink)
        self.catalogue = catalogue
        self.event = event

    def parts(
        self, node: YNode, table: dict[str, bool], what: str, example: str
    ) -> dict[str, tuple[YNode, YNode]] | None:
        if not isinstance(node, YMap):
            self.sink.add(node, f"'{what}' needs a mapping like {example}, got {type_name(node)}")
            return None
        found = check_keys(node, table, f"in {what}", f"'{what}'", self.sink)
        return None if is_broken(node) else found

    def per(self, found: Mapping[str, tuple[YNode, YNode]], key: str) -> tuple[str, ...] | None:
        if key not in found:
            return DEFAULT_PER_OF.get(self.event, DEFAULT_PER) if key == "per" else ()
        node = found[key][1]
        names = self.fields(node, self.catalogue, self.event, key)
        if names is None or not isinstance(node, YSeq):
            return None
        for name, item in zip(names, node.items, strict=False):
            kind = self.catalogue[name].type
            if kind not in SCALAR_TYPES:
                self.sink.add(
                    item, f"'{key}' needs fields with one value; '{name}' is a {kind} field"
                )
                return None
        return names

    def repeat(self, node: YNode, when: AllOf | None) -> Repeat | None:
        example = "{times: 3, within: 30d}"
        found = self.parts(node, REPEAT_KEYS, "repeat", example)
        if found is None:
            return None
        ok = True
        times = None
        if "times" in found:
            value = found["times"][1]
            v = value.value if isinstance(value, YScalar) else None
            if isinstance(v, int) and not isinstance(v, bool) and v >= 2:
                times = v
            else:
                got = str(v) if isinstance(v, int) and not isinstance(v, bool) else type_name(value)
                self.sink.add(value, f"'times' needs a whole number of at least 2, got {got}")
                ok = False
        within = within_text = None
        in_a_row = False
        if "within" in found and "in_a_row" in found:
            self.sink.add(found["in_a_row"][0], "'repeat' takes 'within' or 'in_a_row', not both")
            ok = False
        elif "within" in found:
            within_node = found["within"][1]
            within = self.duration(within_node, "within")
            if within is not None and within <= 0:
                self.sink.add(within_node, "'within' needs a duration above zero")
                within = None
            if within is not None and within > 400 * 86400:
                self.sink.add(
                    within_node, "'within' can be at most 400d (history is kept 400 days)"
                )
                within = None
            ok = ok and within is not None
            within_text = within_node.text if isinstance(within_node, YScalar) else None
        elif "in_a_row" in found:
            value = found["in_a_row"][1]
            if isinstance(value, YScalar) and value.value is True:
                in_a_row = True
            else:
                self.sink.add(
                    value, f"'in_a_row' needs true (or give 'within' instead), got {_shown(value)}"
                )
                ok = False
        else:
            self.sink.add(node, "'repeat' needs 'within' (a duration like 30d) or 'in_a_row: true'")
            ok = False
        per = self.per(found, "per")
        if when is not None:
            for name in sorted(when.fields):
                kind = self.catalogue[name].type if name in self.catalogue else None
                if kind is not None and kind not in SCALAR_TYPES:
                    self.sink.add(
                        node,
                        f"'repeat' counts earlier events by their kept fields, and history keeps"
                        f" no {kind} fields: '{name}' cannot be used in this rule's 'when'",
                    )
                    ok = False
        if not ok or per is None or times is None:
            return None
        return Repeat(times, within, in_a_row, per, within_text)

    def change(self, node: YNode) -> Change | None:
        found = self.parts(node, CHANGE_KEYS, "change", "{field: percentage, drop: 20}")
        if found is None:
            return None
        ok = True
        field_name = None
        if "field" in found:
            value = found["field"][1]
            name = value.value if isinstance(value, YScalar) else None
            if not isinstance(name, str):
                self.sink.add(value, f"'field' needs a field name, got {type_name(value)}")
                ok = False
            elif name not in self.catalogue:
                hint = did_you_mean(name, self.catalogue)
                self.sink.add(value, f"unknown field '{name}' for {self.event}{hint}")
                ok = False
            elif self.catalogue[name].type != "number":
                kind = self.catalogue[name].type
                self.sink.add(value, f"'change' needs a number field; '{name}' is a {kind} field")
                ok = False
            else:
                field_name = name
        amounts: dict[str, float | None] = {"drop": None, "rise": None}
        if "drop" in found and "rise" in found:
            self.sink.add(found["rise"][0], "'change' takes 'drop' or 'rise', not both")
            ok = False
        elif "drop" not in found and "rise" not in found:
            self.sink.add(node, "'change' needs 'drop' or 'rise' (how far the field moved)")
            ok = False
        for key in amounts:
            if key in found and ok:
                value = found[key][1]
                v = value.value if isinstance(value, YScalar) else None
                if isinstance(v, int | float) and is_number(v) and v > 0:
                    amounts[key] = float(v)
                else:
                    self.sink.add(value, f"'{key}' needs a number above zero, got {_shown(value)}")
                    ok = False
        per = self.per(found, "per")
        same = self.per(found, "same")
        if not ok or field_name is None or per is None or same is None:
            return None
        return Change(field_name, amounts["drop"], amounts["rise"], per, same)


def _shown(node: YNode) -> str:
    if isinstance(node, YScalar) and node.value is not None and not isinstance(node.value, str):
        return str(node.value).lower() if isinstance(node.value, bool) else str(node.value)
    return type_name(node)
