"""`notifier check` with NOTIFIER_RULES_IN_STORE=true and no PATH: the rules that run are
the state store's active version, not the file, so that version is the one checked (by
the production loader, as the notifier loads it at its next cycle) and named. A module
apart from `check.py` so that checking a file never loads the store's drivers."""

from __future__ import annotations

import argparse

from notifier.commands.check import cmd_check, report
from notifier.runtime.config import load_rules_text
from notifier.settings import load_settings
from notifier.state import open_store
from notifier.state.exists import missing_store
from notifier.state.rules_base import RulesVersion, version_label


def active_version(db: str) -> tuple[RulesVersion | None, str]:
    """The active version in the store at `db`, or None and why there is none."""
    missing = missing_store(db)
    if missing is not None:
        return None, missing
    store = open_store(db)
    try:
        return store.rules.active(), "the state store holds no rules version"
    finally:
        store.close()


def cmd_check_store(args: argparse.Namespace) -> int:
    settings = load_settings()
    active, why = active_version(settings.db)
    if active is None:
        print(
            f"{why}: checking the file {settings.rules_path} instead, which the first "
            "start imports as version 1"
        )
        return cmd_check(args)
    print(
        f"checking rules version {active.number}, active in the state store "
        f"(NOTIFIER_RULES_IN_STORE=true; `notifier check FILE` checks a file)"
    )
    report(load_rules_text(active.yaml, version_label(active.number), settings), settings)
    return 0
