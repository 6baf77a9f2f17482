"""A draft of the rules checked by the loader `notifier check` uses (no second parser):
its problems at their line and column, each with the loader's message and its hint
("did you mean 'result'?") apart, so the editor can show them at the line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from notifier.channels import CHANNEL_TYPES, ChannelType
from notifier.rules.load import RulesError, load_ruleset_text
from notifier.rules.schema import RuleSet
from notifier.settings import Settings

DRAFT = "draft"  # how a draft is named in its problems and as its rule set's path
# How the loader's messages give a hint after the problem itself ("...; did you mean 'x'?").
HINT_STARTS = ("did you mean", "its fields are", "use one of")


@dataclass(frozen=True)
class Problem:
    """One problem of a draft: where (line and column from 1), what, and the hint."""

    line: int
    col: int
    message: str
    hint: str | None = None


def load_draft(
    yaml_text: str,
    settings: Settings | None = None,
    *,
    shown: str = DRAFT,
    env: Mapping[str, str] | None = None,
    table: Mapping[str, ChannelType] = CHANNEL_TYPES,
) -> RuleSet:
    """The draft loaded as `notifier check` loads the file (with `settings`, a channel
    whose type needs a missing setting is a problem too); RulesError otherwise."""
    return load_ruleset_text(yaml_text, shown, settings, env, channel_types=table)


def check_draft(
    yaml_text: str,
    settings: Settings | None = None,
    *,
    env: Mapping[str, str] | None = None,
    table: Mapping[str, ChannelType] = CHANNEL_TYPES,
) -> list[Problem]:
    """Every problem of the draft, by line; [] when it loads."""
    try:
        load_draft(yaml_text, settings, env=env, table=table)
    except RulesError as exc:
        return [problem_of(p.line, p.col, p.message) for p in exc.problems]
    return []


def problem_of(line: int, col: int, message: str) -> Problem:
    """The loader's message with its hint taken apart."""
    head, sep, tail = message.rpartition("; ")
    if sep and tail.startswith(HINT_STARTS):
        return Problem(line, col, head, tail)
    return Problem(line, col, message)


__all__ = ["DRAFT", "Problem", "check_draft", "load_draft", "problem_of"]
