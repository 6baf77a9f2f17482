"""`notifier check [PATH]`: the rules file validated by the production loader, its
summary, then the notes that are not problems (`checknotes.py`). With the rules in the
store and no PATH, `check_store.py` checks the active version instead."""

from __future__ import annotations

import argparse

from notifier.commands.checknotes import history_notes
from notifier.rules.schema import RuleSet
from notifier.runtime.config import load_rules
from notifier.settings import Settings, load_settings


def in_store(args: argparse.Namespace) -> bool:
    """Whether this check is of the store's active version (no PATH given and
    NOTIFIER_RULES_IN_STORE=true), for `notifier.cli` to pick the module."""
    return args.path is None and load_settings().rules_in_store


def report(ruleset: RuleSet, settings: Settings) -> None:
    print(ruleset.summary())
    for note in history_notes(ruleset, settings):
        print(note)


def cmd_check(args: argparse.Namespace) -> int:
    settings = load_settings()
    report(load_rules(args.path or settings.rules_path, settings), settings)
    return 0
