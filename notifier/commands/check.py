"""`notifier check [PATH]`: the rules file validated by the production loader, its
summary, then the notes that are not problems (`checknotes.py`)."""

from __future__ import annotations

import argparse

from notifier.commands.checknotes import history_notes
from notifier.runtime.config import load_rules
from notifier.settings import load_settings


def cmd_check(args: argparse.Namespace) -> int:
    settings = load_settings()
    ruleset = load_rules(args.path or settings.rules_path, settings)
    print(ruleset.summary())
    for note in history_notes(ruleset, settings):
        print(note)
    return 0
