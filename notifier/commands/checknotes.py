"""Notes `notifier check` prints after its summary: not problems, things an admin should
know about rules that are valid (a history window longer than what is recorded)."""

from __future__ import annotations

import time
from pathlib import Path

from notifier.rules.history import history_rules, window_notes
from notifier.rules.schema import RuleSet
from notifier.settings import Settings


def history_notes(ruleset: RuleSet, settings: Settings) -> list[str]:
    """Notes (not errors) for history rules whose window reaches past what the state
    store has recorded so far: they work with what there is."""
    if not history_rules(ruleset.rules):
        return []
    since = None
    db = Path(settings.db_path)
    if db.exists():
        # A named exception to "imports at the top": `check` imports the store's code
        # (sqlite_utils, psycopg: ~80 ms) only when there is a store to read.
        from notifier.state import open_store  # noqa: PLC0415 - start-up time of `check`

        store = open_store(db)
        try:
            since = store.history.history_since()
        finally:
            store.close()
    return window_notes(ruleset.rules, since, time.time())
