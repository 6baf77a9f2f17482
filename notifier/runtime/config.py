"""The configuration stage: rules.yaml and settings, typed and validated once.

`notifier.rules` compiles the rules file without knowing any channel's code; this
module hands it the channel registry (each type's settings model), so validating a
channel's keys and loading the senders stay in their own packages.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from notifier.channels import CHANNEL_TYPES, ChannelType
from notifier.rules.load import Problem, RulesError, load_ruleset, load_ruleset_text
from notifier.rules.schema import RuleSet
from notifier.settings import Settings

__all__ = ["Problem", "RulesError", "load_rules", "load_rules_text"]


def load_rules(
    path: Path | str,
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    *,
    channel_types: Mapping[str, ChannelType] = CHANNEL_TYPES,
) -> RuleSet:
    """Read, validate and compile the rules file. `env` feeds `${VAR}`; by default the
    environment over the `.env` file of the working directory, as settings are read.
    With `settings`, a channel whose type needs a missing setting is a problem too.
    `channel_types` is the channel table the file's channels are checked against (the
    composition root's). Raises RulesError listing every problem."""
    return load_ruleset(path, settings, env, channel_types=channel_types)


def load_rules_text(
    text: str,
    shown: str,
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    *,
    channel_types: Mapping[str, ChannelType] = CHANNEL_TYPES,
) -> RuleSet:
    """`load_rules` of rules given as text: a version kept in the state store, named
    `shown` (e.g. `rules@v3`) in its `PATH:LINE:COL` problems."""
    return load_ruleset_text(text, shown, settings, env, channel_types=channel_types)
