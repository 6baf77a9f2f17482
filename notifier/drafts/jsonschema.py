"""The JSON Schema of the rules file, for editors: printed by `notifier schema`, served
by the console at `/rules/schema.json` for the rules editor's completion (here, below
both, since the console may not import a command).

Generated from the tables the loader itself uses, never written by hand: the key tables
in `notifier.rules.schema`, each channel type's config model (`CHANNEL_TYPES`), the
event field catalogue (`EVENT_KINDS`) and the operator tables in
`notifier.rules.compile`. So a new field, operator or channel key reaches editors the
moment the loader accepts it. The loader stays the authority (it also checks types of
`${VAR}` values after interpolation, regular expressions and templates); the schema
gives completion and catches most slips as the admin types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeAlias

from notifier.channels import CHANNEL_TYPES
from notifier.events import EVENT_KINDS, FieldSpec, JSONValue
from notifier.rules.hints import APPLIES_TO, COMBINATORS, COMPARISON_OPS, COUNT_OPS
from notifier.rules.history_keys import NO_HISTORY_KINDS
from notifier.rules.schema import (
    CHANNEL_COMMON_KEYS,
    RULE_KEYS,
    RULE_NAME,
    SOURCES_KEYS,
    TOP_LEVEL_KEYS,
)
from notifier.rules.templates import EXTRA_NAMES, FILTERS

# A JSON Schema (or a part of one), as this module builds it.
Schema: TypeAlias = dict[str, JSONValue]

VAR: Schema = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"}
VALUE_TYPES: dict[str, Schema] = {
    "number": {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/var"}]},
    "string": {"type": ["string", "number", "boolean"]},  # an unquoted 133 is the text "133"
    "time": {"type": "string", "description": "ISO 8601 with an offset"},
    "bool": {"anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/var"}]},
    "list": {},
    "object": {},
    "any": {},
}
ANYTHING: Schema = {"type": ["string", "number", "boolean", "array", "null"]}
RULE_DOCS: dict[str, str] = {
    "name": "Unique; letters, digits, '-' and '_'.",
    "event": "The event kind this rule watches.",
    "when": "Field conditions, all of which must hold; empty matches every event.",
    "notify": "Channel names (keys of 'channels').",
    "enabled": "false: the rule is loaded and checked, and never fires.",
    "title": "Jinja2 template: Slack header, email subject after [rule].",
    "message": "Jinja2 template: each alert's text.",
}


_DURATION: Schema = {
    "oneOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\d+(\.\d+)?(s|m|h|d)?$"},
    ]
}
_CLOCK: Schema = {"type": "string", "pattern": "^([01]?\\d|2[0-3]):[0-5]\\d$"}
_QUIET: Schema = {
    "type": "object",
    "description": "Hold alerts in this window; they are sent, grouped, when it ends.",
    "properties": {"from": _CLOCK, "to": _CLOCK, "timezone": {"type": "string"}},
    "required": ["from", "to", "timezone"],
    "additionalProperties": False,
}
POLICY_PROPS: dict[str, Schema] = {
    "group_by": {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "description": "Matches sharing these field values go out as one message.",
    },
    "group_wait": {**_DURATION, "description": "How long a new group waits for more (30s)."},
    "group_interval": {**_DURATION, "description": "Time between messages of one group (5m)."},
    "digest": {
        "type": "object",
        "description": "Send the rule's matches as one summary at these times of day.",
        "properties": {
            "at": {"oneOf": [_CLOCK, {"type": "array", "items": _CLOCK, "minItems": 1}]},
            "timezone": {"type": "string"},
        },
        "required": ["at", "timezone"],
        "additionalProperties": False,
    },
    "quiet_hours": _QUIET,
    "throttle": {
        "type": "object",
        "description": "At most one message per these field values within the time.",
        "properties": {
            "by": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "within": _DURATION,
        },
        "required": ["by", "within"],
        "additionalProperties": False,
    },
    "urgent": {"type": "boolean", "description": "Ignore quiet hours."},
}


_FIELDS: Schema = {"type": "array", "items": {"type": "string"}, "minItems": 1}
HISTORY_PROPS: dict[str, Schema] = {
    "repeat": {
        "type": "object",
        "description": (
            "Fire on the event that makes `times` events matching `when` for the same "
            "`per` values (default [user_id]), within `within` or `in_a_row`; the count "
            "starts again after firing. E.g. {times: 3, within: 30d}: the 3rd Fail of a "
            "student within 30 days."
        ),
        "properties": {
            "times": {"type": "integer", "minimum": 2, "description": "How many, e.g. 3."},
            "within": {**_DURATION, "description": "A duration, e.g. 30d (at most 400d)."},
            "in_a_row": {"const": True, "description": "Consecutive among the key's events."},
            "per": {**_FIELDS, "description": "Count per these fields (default [user_id])."},
        },
        "required": ["times"],
        "oneOf": [{"required": ["within"]}, {"required": ["in_a_row"]}],
        "additionalProperties": False,
        "examples": [{"times": 3, "within": "30d"}, {"times": 3, "in_a_row": True}],
    },
    "change": {
        "type": "object",
        "description": (
            "Fire when `field` is at least `drop` below (or `rise` above) the same field "
            "of the previous event with the same `per` (default [user_id]) and `same` "
            "values. E.g. {field: percentage, drop: 20}."
        ),
        "properties": {
            "field": {"type": "string", "description": "A number field, e.g. percentage."},
            "drop": {"type": "number", "exclusiveMinimum": 0},
            "rise": {"type": "number", "exclusiveMinimum": 0},
            "per": {**_FIELDS, "description": "Compare per these fields (default [user_id])."},
            "same": {**_FIELDS, "description": "Only with the same values, e.g. [exam_id]."},
        },
        "required": ["field"],
        "oneOf": [{"required": ["drop"]}, {"required": ["rise"]}],
        "additionalProperties": False,
        "examples": [{"field": "percentage", "drop": 20}],
    },
}


def _props(table: Mapping[str, bool]) -> list[str]:
    return [name for name, required in table.items() if required]


def _condition(name: str, spec: FieldSpec, kind_id: str) -> Schema:
    """A bare value (eq) or a mapping of the operators that fit this field's type."""
    value = VALUE_TYPES[spec.type]
    if spec.values is not None:  # a fixed set: any other value would never match
        value = {"enum": list(spec.values)}
    ops: Schema = {}
    for op in COMPARISON_OPS:
        if op in APPLIES_TO and spec.type not in APPLIES_TO[op]:
            continue
        if op == "exists":
            ops[op] = {"type": "boolean"}
        elif op in ("in", "not_in"):
            ops[op] = {"type": "array", "items": value}
        elif op == "matches":
            ops[op] = {"type": "string", "description": "a regular expression, searched"}
        elif op in ("eq", "ne"):
            ops[op] = {"anyOf": [value, {"type": "null"}]} if value else ANYTHING
        else:
            ops[op] = value
    if spec.items is not None:
        item_when = {"$ref": f"#/$defs/when_{kind_id}.{name}"}
        count = {op: {"type": "number"} for op in COUNT_OPS}
        ops["some"] = item_when
        ops["every"] = item_when
        ops["count"] = {
            "type": "object",
            "properties": {"where": item_when, **count},
            "additionalProperties": False,
        }
    mapping: Schema = {"type": "object", "properties": ops, "additionalProperties": False}
    bare = value or ANYTHING
    return {"anyOf": [bare, mapping]}


def _when(kind_id: str, catalogue: Mapping[str, FieldSpec], defs: Schema) -> str:
    """Define `when_<kind_id>` (and its list items' `when`s); returns its $defs name."""
    ref = f"#/$defs/when_{kind_id}"
    props: Schema = {}
    for name, spec in catalogue.items():
        props[name] = _condition(name, spec, kind_id)
        if spec.items is not None:
            _when(f"{kind_id}.{name}", spec.items, defs)
    for combinator in COMBINATORS:
        props[combinator] = (
            {"$ref": ref} if combinator == "not" else {"type": "array", "items": {"$ref": ref}}
        )
    defs[f"when_{kind_id}"] = {
        "anyOf": [
            {"type": "object", "properties": props, "additionalProperties": False},
            {"type": "null"},
        ]
    }
    return ref


def _channel(type_: str) -> Schema:
    schema = CHANNEL_TYPES[type_].config.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        prop.pop("default", None)
    for name in sorted(CHANNEL_COMMON_KEYS - {"type"}):  # keys every channel type takes
        schema.setdefault("properties", {}).setdefault(name, POLICY_PROPS.get(name, {}))
    return schema


def rules_schema() -> Schema:
    """The JSON Schema (draft 2020-12) of the rules file."""
    defs: Schema = {"var": VAR}
    for kind, catalogue in EVENT_KINDS.items():
        _when(kind, catalogue, defs)
    template: Schema = {
        "type": "string",
        "description": "Jinja2 over the event's fields and "
        + ", ".join(EXTRA_NAMES)
        + "; filters: "
        + ", ".join(name for name in FILTERS if name not in ("safe", "e", "escape", "forceescape")),
    }
    rule_props: dict[str, Schema] = {
        "name": {"type": "string", "pattern": RULE_NAME.pattern},
        "event": {"enum": list(EVENT_KINDS)},
        "when": {},
        "notify": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "enabled": {"type": "boolean"},
        "title": template,
        "message": template,
        **POLICY_PROPS,
        **HISTORY_PROPS,
    }
    for name in RULE_KEYS:  # a key added to the table before it has a schema here
        rule_props.setdefault(name, {"description": "See docs/rules.md."})
    for name, prop in rule_props.items():
        if name in RULE_DOCS:
            prop.setdefault("description", RULE_DOCS[name])
    rule: Schema = {
        "type": "object",
        "properties": rule_props,
        "required": _props(RULE_KEYS),
        "additionalProperties": False,
        "allOf": [
            {
                "if": {"properties": {"event": {"const": kind}}, "required": ["event"]},
                "then": {"properties": {"when": {"$ref": f"#/$defs/when_{kind}"}}},
            }
            for kind in EVENT_KINDS
        ]
        + [
            {
                "if": {"properties": {"event": {"const": kind}}, "required": ["event"]},
                "then": {"properties": {"repeat": False, "change": False}},
            }
            for kind in NO_HISTORY_KINDS
        ]
        + [{"not": {"required": ["repeat", "change"]}}],
    }
    sources_props: Schema = {
        "conferences": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "description": "Conference ids to watch besides those found through attempts.",
        }
    }
    for name in SOURCES_KEYS:
        sources_props.setdefault(name, {})
    top_props: Schema = {
        "channels": {
            "type": "object",
            "description": "Named destinations that rules notify.",
            "additionalProperties": {"oneOf": [_channel(t) for t in CHANNEL_TYPES]},
        },
        "rules": {"type": "array", "items": rule},
        "sources": {
            "type": "object",
            "properties": sources_props,
            "required": _props(SOURCES_KEYS),
            "additionalProperties": False,
        },
    }
    for name in TOP_LEVEL_KEYS:
        top_props.setdefault(name, {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "testpress-notifier rules file",
        "type": "object",
        "properties": top_props,
        "required": _props(TOP_LEVEL_KEYS),
        "additionalProperties": False,
        "$defs": defs,
    }


def schema_text() -> str:
    """What `notifier schema` prints and `rules.schema.json` holds."""
    return json.dumps(rules_schema(), indent=2, ensure_ascii=False) + "\n"
