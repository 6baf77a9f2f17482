"""YAML with positions: the rules file as a small tree whose every node knows its line
and column, so each problem can be reported as `PATH:LINE:COL: message`.

We compose (not load) the document: PyYAML's loader silently keeps the last of two
duplicate mapping keys, while the composed nodes keep both, so validators can report a
duplicate where it appears the second time. `${VAR}` and `${VAR:-default}` are
interpolated here, in string values only (never keys), while the scalar's position is
still known; an unquoted scalar is typed again after interpolation, so
`lt: ${THRESHOLD}` is a number when THRESHOLD is one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeAlias

import yaml

from notifier.events import JSONValue
from notifier.rules.yamlerrors import plain_words

try:  # libyaml is much faster; the pure-Python loader gives the same nodes
    from yaml import CSafeLoader as _FastLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _FastLoader  # type: ignore[assignment]

MERGE_TAG = "tag:yaml.org,2002:merge"
# A scalar as YAML types it: what the rules file (outside input) holds, before checks.
YAMLScalar: TypeAlias = str | int | float | bool | None | date
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the rules file. Line and column count from 1."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


@dataclass(frozen=True)
class Pos:
    line: int  # from 1
    col: int  # from 1


@dataclass
class YScalar:
    pos: Pos
    value: YAMLScalar  # as YAML typed it (str, int, float, bool, None, date, datetime, ...)
    text: str  # the scalar's text after interpolation
    plain: bool  # unquoted: the text may be read as another type (a string field's `yes`)
    broken: bool = False  # an interpolation failed; the problem is already reported
    interpolated: bool = False  # its text came (partly) from ${VAR}


@dataclass
class YSeq:
    pos: Pos
    items: list[YNode]


@dataclass
class YMap:
    pos: Pos
    pairs: list[tuple[YNode, YNode]]

    def get(self, key: str) -> YNode | None:
        """The value of the LAST `key` (as YAML would keep it)."""
        found = None
        for k, v in self.pairs:
            if key_name(k) == key:
                found = v
        return found

    def key_node(self, key: str) -> YNode | None:
        for k, _ in self.pairs:
            if key_name(k) == key:
                return k
        return None


YNode = YScalar | YSeq | YMap


def key_name(node: YNode) -> str:
    """A mapping key as text, for lookups and messages."""
    if isinstance(node, YScalar):
        return node.text if isinstance(node.value, str) else str(node.value)
    return "<complex key>"


def is_broken(node: YNode | None) -> bool:
    """True when some value in `node` failed interpolation (and is already reported)."""
    if node is None:
        return False
    if isinstance(node, YScalar):
        return node.broken
    if isinstance(node, YSeq):
        return any(is_broken(item) for item in node.items)
    return any(is_broken(v) for _, v in node.pairs)


def to_plain(node: YNode | None) -> JSONValue:
    """The node as plain JSON-like Python (times and dates as their ISO text), for
    pydantic models and for the `expected` of a Reason."""
    if node is None:
        return None
    if isinstance(node, YScalar):
        if isinstance(node.value, date | datetime):
            return node.text
        return node.value
    if isinstance(node, YSeq):
        return [to_plain(item) for item in node.items]
    return plain_map(node)


def plain_map(node: YMap) -> dict[str, JSONValue]:
    """A mapping node as a plain dict (as `to_plain` gives it, typed as a dict)."""
    return {key_name(k): to_plain(v) for k, v in node.pairs}


def type_name(node: YNode) -> str:
    """How a value reads in a message ("a string", "a list"); never the value itself,
    which may be a secret."""
    if isinstance(node, YSeq):
        return "a list"
    if isinstance(node, YMap):
        return "a mapping"
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, datetime):
        return "a time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def parse(text: str, path: str, env: Mapping[str, str]) -> tuple[YNode | None, list[Problem]]:
    """Compose `text` into a YNode tree (None for an empty document), interpolating
    `${VAR}`. Returns the problems found on the way (syntax, unset variables)."""
    try:
        root = yaml.compose(text, Loader=_FastLoader)
    except yaml.YAMLError:
        # Report through the pure-Python parser: its messages are the same whichever
        # PyYAML build is installed, so what users (and tests) see does not vary.
        return None, [_syntax_problem(text, path)]
    if root is None:
        return None, []
    builder = _Builder(path, env)
    return builder.build(root), builder.problems


def _syntax_problem(text: str, path: str) -> Problem:
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line, col, what = plain_words(exc, text)
        return Problem(path, line, col, f"invalid YAML: {what}")
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow: locate it from its offset in the text.
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return Problem(path, line, col, f"invalid YAML: {exc.reason} (U+{char:04X})")
    except yaml.YAMLError as exc:
        return Problem(path, 1, 1, "invalid YAML: " + " ".join(str(exc).split()))
    return Problem(path, 1, 1, "invalid YAML")  # pragma: no cover - the fast parser disagreed


class _Builder:
    def __init__(self, path: str, env: Mapping[str, str]):
        self.path = path
        self.env = env
        self.problems: list[Problem] = []
        self._loader = yaml.SafeLoader("")  # its resolver and constructor type scalars

    def problem(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(self.path, pos.line, pos.col, message))

    def build(self, node: yaml.Node, is_key: bool = False) -> YNode:
        pos = Pos(node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.SequenceNode):
            return YSeq(pos, [self.build(item) for item in node.value])
        if isinstance(node, yaml.MappingNode):
            return YMap(pos, self._pairs(node))
        return self._scalar(node, pos, is_key)

    def _pairs(self, node: yaml.MappingNode) -> list[tuple[YNode, YNode]]:
        explicit: list[tuple[YNode, YNode]] = []
        merged: list[tuple[YNode, YNode]] = []
        for key, value in node.value:
            if key.tag == MERGE_TAG:
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged.extend(self._pairs(source))
                    else:
                        pos = Pos(source.start_mark.line + 1, source.start_mark.column + 1)
                        self.problem(pos, "'<<' merges only mappings")
                continue
            explicit.append((self.build(key, is_key=True), self.build(value)))
        # Explicit keys win over merged ones, and a merged key is never a "duplicate".
        seen = {key_name(k) for k, _ in explicit}
        for k, v in merged:
            if key_name(k) not in seen:
                seen.add(key_name(k))
                explicit.append((k, v))
        return explicit

    def _scalar(self, node: yaml.Node, pos: Pos, is_key: bool) -> YScalar:
        plain = not getattr(node, "style", None)  # None (pure Python) or "" (libyaml)
        text = str(node.value)
        try:
            value = self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(pos, f"invalid value: {getattr(exc, 'problem', None) or exc}")
            return YScalar(pos, text, text, plain, broken=True)
        if is_key or not isinstance(value, str) or "${" not in text:
            return YScalar(pos, value, text, plain)
        new_text, ok = self._interpolate(text, pos)
        if not ok:
            return YScalar(pos, None, new_text, plain, broken=True)
        if not plain:
            return YScalar(pos, new_text, new_text, plain, interpolated=True)
        retyped = yaml.ScalarNode(
            self._loader.resolve(  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
                yaml.ScalarNode, new_text, (True, False)
            ),
            new_text,
        )
        try:
            value = self._loader.construct_object(retyped, deep=True)
        except (yaml.YAMLError, ValueError):
            value = new_text
        return YScalar(pos, value, new_text, plain, interpolated=True)

    def _interpolate(self, text: str, pos: Pos) -> tuple[str, bool]:
        ok = True

        def one(match: re.Match[str]) -> str:
            nonlocal ok
            name, default = match.group(1), match.group(2)
            value = self.env.get(name)
            if default is not None and not value:  # shell's `:-`: unset or empty
                return default
            if value is None:
                ok = False
                self.problem(
                    pos, f"environment variable {name} is not set and '${{{name}}}' has no default"
                )
                return ""
            return value

        return _VAR.sub(one, text), ok


def walk_pairs(node: YMap) -> Iterator[tuple[str, YNode, YNode]]:
    """(name, key node, value node) for each pair, in file order."""
    for k, v in node.pairs:
        yield key_name(k), k, v


@dataclass
class Sink:
    """Where validators put problems; one per load."""

    path: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, node: YNode | Pos, message: str) -> None:
        pos = node if isinstance(node, Pos) else node.pos
        self.problems.append(Problem(self.path, pos.line, pos.col, message))
