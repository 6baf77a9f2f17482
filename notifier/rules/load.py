"""Load and validate the rules file (contract section 4) into a RuleSet.

Validation is in two layers: each channel's own config model checks its fields, and
this module checks the whole: the key tables in `schema.py`, references between rules
and channels, unique names, the settings a channel needs. Every problem is collected
and reported together, sorted by line, as `PATH:LINE:COL: message`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError

from notifier.events import EVENT_KINDS, Stage
from notifier.rules.channel_errors import config_problems
from notifier.rules.compile import Compiler, check_keys, unique_pairs
from notifier.rules.hints import COMBINATORS, did_you_mean
from notifier.rules.history_keys import read_history
from notifier.rules.policies import read_policy, read_quiet_hours
from notifier.rules.policy import Policy
from notifier.rules.schema import (
    RULE_KEYS,
    RULE_NAME,
    SOURCES_KEYS,
    TOP_LEVEL_KEYS,
    ChannelDef,
    Rule,
    RuleSet,
    Sources,
)
from notifier.rules.templates import (
    TEMPLATE_KEYS,
    CompiledTemplate,
    RuleTemplates,
    compile_template,
)
from notifier.rules.yamlpos import (
    Pos,
    Problem,
    Sink,
    YMap,
    YNode,
    YScalar,
    YSeq,
    is_broken,
    key_name,
    parse,
    to_plain,
    type_name,
)
from notifier.settings import Settings

__all__ = ["ChannelKind", "Problem", "RulesError", "load_ruleset", "load_ruleset_text"]


class ChannelKind(Protocol):
    """What the loader needs of a channel type: the model its settings validate against.
    The table itself (`notifier.channels.self.channel_types`) is passed in by
    `notifier.runtime.config`, so this package never imports a sender."""

    @property
    def config(self) -> type[BaseModel]: ...


class RulesError(Exception):
    """The rules file is invalid; `problems` lists every problem found, by line."""

    def __init__(self, problems: list[Problem]):
        unique = list(dict.fromkeys(problems))  # an aliased node is reported once
        self.problems = sorted(unique, key=lambda p: (p.line, p.col))
        super().__init__("\n".join(str(p) for p in self.problems))


def load_ruleset(
    path: Path | str,
    settings: Settings | None,
    env: Mapping[str, str] | None,
    *,
    channel_types: Mapping[str, ChannelKind],
) -> RuleSet:
    """Read, validate and compile the rules file. `env` feeds `${VAR}`; by default the
    environment over the `.env` file of the working directory, as settings are read.
    With `settings`, a channel whose type needs a missing setting is a problem too.
    Raises RulesError listing every problem."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(
            [Problem(shown, 1, 1, f"cannot read the rules file: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError:
        raise RulesError([Problem(shown, 1, 1, "the rules file is not UTF-8 text")]) from None
    return load_ruleset_text(text, shown, settings, env, channel_types=channel_types)


def load_ruleset_text(
    text: str,
    shown: str,
    settings: Settings | None,
    env: Mapping[str, str] | None,
    *,
    channel_types: Mapping[str, ChannelKind],
) -> RuleSet:
    """`load_ruleset` of rules given as text (a version kept in the store, a draft in
    the console), named `shown` in its problems and as the rule set's path."""
    root, problems = parse(text, shown, default_env() if env is None else env)
    sink = Sink(shown, problems)
    ruleset = _Loader(sink, settings, channel_types).load(root)
    if sink.problems or ruleset is None:
        raise RulesError(sink.problems)
    return ruleset


def default_env() -> dict[str, str]:
    """What `${VAR}` reads: the `.env` file of the working directory, overridden by the
    environment (the same precedence as the settings)."""
    values = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    values.update(os.environ)
    return values


class _Loader:
    def __init__(
        self, sink: Sink, settings: Settings | None, channel_types: Mapping[str, ChannelKind]
    ):
        self.sink = sink
        self.channel_types = channel_types
        self.settings = settings
        self.compiler = Compiler(sink, RULE_KEYS)

    def keys(
        self, node: YMap, table: Mapping[str, bool], where: str, owner: str
    ) -> dict[str, tuple[YNode, YNode]]:
        return check_keys(node, table, where, owner, self.sink)

    def load(self, root: YNode | None) -> RuleSet | None:
        if root is None:
            if not self.sink.problems:
                self.sink.add(Pos(1, 1), "the rules file is empty; it needs 'channels' and 'rules'")
            return None
        if not isinstance(root, YMap):
            self.sink.add(
                root,
                f"the rules file needs a mapping with 'channels' and 'rules', got "
                f"{type_name(root)}",
            )
            return None
        top = self.keys(root, TOP_LEVEL_KEYS, "at the top level", "the rules file")
        channels, defined = self.channels(top["channels"][1]) if "channels" in top else ({}, set())
        sources = self.sources(top["sources"][1]) if "sources" in top else Sources()
        rules = self.rules(top["rules"][1], defined) if "rules" in top else []
        return RuleSet(
            self.sink.path,
            channels,
            [r for r in rules if r.enabled],
            sources,
            tuple(r.name for r in rules if not r.enabled),
        )

    # -- channels -----------------------------------------------------------------------

    def channels(self, node: YNode) -> tuple[dict[str, ChannelDef], set[str]]:
        """The valid channels, and the names of every channel defined (valid or not), so
        a rule naming an invalid channel is not also told it is undefined."""
        channels: dict[str, ChannelDef] = {}
        defined: set[str] = set()
        if not isinstance(node, YMap):
            self.sink.add(
                node,
                f"'channels' needs a mapping of channel names to channels, got {type_name(node)}",
            )
            return channels, defined
        for k, v in node.pairs:
            name = key_name(k)
            if name in defined:
                self.sink.add(k, f"duplicate channel name '{name}'")
                continue
            defined.add(name)
            channel = self.channel(name, k, v)
            if channel is not None:
                channels[name] = channel
        return channels, defined

    def channel(self, name: str, key: YNode, node: YNode) -> ChannelDef | None:
        if not isinstance(node, YMap):
            self.sink.add(
                node, f"channel '{name}' needs a mapping with 'type', got {type_name(node)}"
            )
            return None
        pairs = unique_pairs(node, self.sink, f"in channel '{name}'")
        type_node = next((v for n, _, v in pairs if n == "type"), None)
        known = ", ".join(sorted(self.channel_types))
        if type_node is None:
            self.sink.add(key, f"channel '{name}' needs 'type' (one of {known})")
            return None
        type_ = type_node.value if isinstance(type_node, YScalar) else None
        if not isinstance(type_, str) or type_ not in self.channel_types:
            shown = type_ if isinstance(type_, str) else type_name(type_node)
            hint = did_you_mean(shown, self.channel_types) or f"; use one of {known}"
            self.sink.add(type_node, f"unknown channel type '{shown}' for channel '{name}'{hint}")
            return None
        if is_broken(node):
            return None
        model = self.channel_types[type_].config
        quiet = next((v for n, _, v in pairs if n == "quiet_hours"), None)
        quiet_hours = read_quiet_hours(quiet, self.sink) if quiet is not None else None
        if quiet is not None and quiet_hours is None:
            return None
        pairs = [(n, k, v) for n, k, v in pairs if n != "quiet_hours"]
        raw = {n: to_plain(v) for n, _, v in pairs}
        try:
            config = model.model_validate(raw)
        except ValidationError as exc:
            config_problems(self.sink, name, type_, key, pairs, model, raw, exc)
            return None
        if self.settings is not None:
            missing = config.missing_settings(self.settings)  # type: ignore[attr-defined]
            if missing:
                verb = "is" if len(missing) == 1 else "are"
                self.sink.add(
                    key,
                    f"channel '{name}' ({type_}) needs {' and '.join(missing)}, "
                    f"which {verb} not set",
                )
                return None
        return ChannelDef(name, type_, config, quiet_hours)

    # -- sources ------------------------------------------------------------------------

    def sources(self, node: YNode) -> Sources:
        if not isinstance(node, YMap):
            self.sink.add(node, f"'sources' needs a mapping, got {type_name(node)}")
            return Sources()
        found = self.keys(node, SOURCES_KEYS, "in sources", "sources")
        conferences: list[int] = []
        if "conferences" in found:
            value = found["conferences"][1]
            if not isinstance(value, YSeq):
                self.sink.add(
                    value,
                    "'conferences' needs a list of conference ids, e.g. [12, 15], "
                    f"got {type_name(value)}",
                )
                return Sources()
            for item in value.items:
                v = item.value if isinstance(item, YScalar) else None
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    conferences.append(v)
                elif not (isinstance(item, YScalar) and item.broken):
                    got = str(v) if isinstance(v, int) else type_name(item)
                    self.sink.add(item, f"a conference id must be a positive integer, got {got}")
        return Sources(conferences)

    # -- rules --------------------------------------------------------------------------

    def rules(self, node: YNode, channels: set[str]) -> list[Rule]:
        if not isinstance(node, YSeq):
            self.sink.add(node, f"'rules' needs a list of rules, got {type_name(node)}")
            return []
        rules: list[Rule] = []
        names: set[str] = set()
        for item in node.items:
            rule = self.rule(item, channels, names)
            if rule is not None:
                rules.append(rule)
        return rules

    def rule(self, node: YNode, channels: set[str], names: set[str]) -> Rule | None:
        if not isinstance(node, YMap):
            self.sink.add(
                node,
                f"a rule needs a mapping with 'name', 'event' and 'notify', got {type_name(node)}",
            )
            return None
        before = len(self.sink.problems)
        found = check_keys(node, RULE_KEYS, "in rule", "a rule", self.sink, _in_when(node))
        name = self.rule_name(found["name"][1], names) if "name" in found else None
        event = self.event(found["event"][1]) if "event" in found else None
        notify = self.notify(found["notify"][1], channels) if "notify" in found else ()
        when = None
        if event is not None:
            when_node = found["when"][1] if "when" in found else None
            when = self.compiler.when(when_node, EVENT_KINDS[event], event)
        templates = self.templates(found, event) if event is not None else None
        policy = (
            read_policy(found, EVENT_KINDS[event], event, self.sink) if event is not None else None
        )
        history = (
            None
            if event is None
            else read_history(found, EVENT_KINDS[event], event, when, self.sink)
        )
        if name is None or event is None or when is None or len(self.sink.problems) > before:
            return None
        catalogue = EVENT_KINDS[event]
        fields = when.fields | (templates.fields if templates else frozenset())
        if history is not None:
            fields |= history.fields
        stages: set[Stage] = {catalogue[f].stage for f in fields}
        stages.add("list")
        policy = policy or Policy()
        enabled = self.enabled(found["enabled"][1]) if "enabled" in found else True
        if enabled is None:
            return None
        return Rule(
            name, event, notify, when, fields, frozenset(stages), templates, policy, history,
            enabled,
        )  # fmt: skip

    def enabled(self, node: YNode) -> bool | None:
        """`enabled: false`: the rule is loaded and checked, and never fires."""
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return node.value
        self.sink.add(node, f"'enabled' needs true or false, got {type_name(node)}")
        return None

    def templates(self, found: dict[str, tuple[YNode, YNode]], event: str) -> RuleTemplates | None:
        """The rule's `title` and `message` templates, checked against the event's fields
        (notifier.rules.templates); None when it gives neither."""
        compiled: dict[str, CompiledTemplate | None] = {}
        fields: frozenset[str] = frozenset()
        for key in TEMPLATE_KEYS:
            if key not in found:
                continue
            node = found[key][1]
            if isinstance(node, YScalar) and node.broken:
                continue
            source = None
            if isinstance(node, YScalar) and node.value is not None:
                source = node.text if node.plain else node.value  # `title: 5` reads "5"
            if not isinstance(source, str) or not source.strip():
                self.sink.add(node, f"'{key}' needs a template text, got {type_name(node)}")
                continue
            template, used, problems = compile_template(source, event, f"'{key}'")
            for problem in problems:
                where = f" (line {problem.line} of the template)" if problem.line > 1 else ""
                self.sink.add(node, problem.message + where)
            compiled[key] = template
            fields |= used
        if not compiled:
            return None
        return RuleTemplates(event, compiled.get("title"), compiled.get("message"), fields)

    def rule_name(self, node: YNode, names: set[str]) -> str | None:
        value = node.value if isinstance(node, YScalar) else None
        if not isinstance(value, str):
            self.sink.add(node, f"a rule name needs a string, got {type_name(node)}")
            return None
        if not RULE_NAME.match(value):
            self.sink.add(node, f"bad rule name '{value}': use only letters, digits, '-' and '_'")
            return None
        if value in names:
            self.sink.add(node, f"duplicate rule name '{value}'")
            return None
        names.add(value)
        return value

    def event(self, node: YNode) -> str | None:
        value = node.value if isinstance(node, YScalar) else None
        if isinstance(value, str) and value in EVENT_KINDS:
            return value
        shown = value if isinstance(value, str) else type_name(node)
        hint = did_you_mean(shown, EVENT_KINDS) or f"; use one of {', '.join(EVENT_KINDS)}"
        self.sink.add(node, f"unknown event '{shown}'{hint}")
        return None

    def notify(self, node: YNode, channels: set[str]) -> tuple[str, ...]:
        if not isinstance(node, YSeq):
            self.sink.add(
                node,
                f"'notify' needs a list of channel names, e.g. [teachers], got {type_name(node)}",
            )
            return ()
        if not node.items:
            self.sink.add(node, "'notify' needs at least one channel name")
            return ()
        names: list[str] = []
        for item in node.items:
            value = item.value if isinstance(item, YScalar) else None
            if not isinstance(value, str):
                self.sink.add(item, f"a channel name needs a string, got {type_name(item)}")
            elif value not in channels:
                hint = did_you_mean(value, channels)
                self.sink.add(item, f"undefined channel '{value}' in notify{hint}")
            elif value not in names:
                names.append(value)
        return tuple(names)


def _in_when(rule: YMap) -> Callable[[str], str | None]:
    """Says so when an unknown key of a rule is a field of its event (or `any`, `all`,
    `not`): it belongs one level in, under `when`."""
    event = rule.get("event")
    kind = event.value if isinstance(event, YScalar) else None
    fields = EVENT_KINDS.get(kind, {}) if isinstance(kind, str) else {}

    def misplaced(name: str) -> str | None:
        if name in fields or name in COMBINATORS:
            what = f"a field of {kind}" if name in fields else "a condition"
            return (
                f"'{name}' is {what}, not a key of the rule: it belongs one level in, under 'when'"
            )
        return None

    return misplaced
