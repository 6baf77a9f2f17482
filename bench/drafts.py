"""Figure v: the console's preview of a rules draft (issue 21) over the last 7 days of a
10,000-student year, from the events the store keeps (no Testpress request).

The store holds the year of figure g (`bench/history.py`: 100,000 exam attempts and
500,000 content completions, kept as history by `record`) and, in the outbox, the alerts
the active rules raised in the last 7 days. The active version is figure g's ten history
rules; the draft an admin previews changes two thresholds and adds a rule on failed
exams. The figure is `DraftService.preview(draft, days=7)` as the editor's Preview
button calls it: the draft loaded, history read (all of it for the `change` and
`in_a_row` rules, whose window is unbounded) and evaluated in time order, the outbox
counted, samples rendered.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.history import DAYS, RULES, START, _year

RUNS = 3
DRAFT = (
    RULES.replace("drop: 20}", "drop: 15}").replace("within: 14d}", "within: 21d}")
    + """\
  - {name: failed-exam, event: attempt.completed, when: {result: Fail}, notify: [t]}
"""
)


def measure() -> dict[str, Any]:
    from notifier.drafts.service import DraftService
    from notifier.events import Event
    from notifier.rules.history import kept_fields, to_kept
    from notifier.runtime.config import load_rules_text
    from notifier.settings import Settings
    from notifier.state import NewDelivery, SqliteStore

    rng = random.Random(21)
    active = RULES.replace("  - {name: gone-quiet", "  # - {name: gone-quiet")
    draft = DRAFT.replace("  - {name: gone-quiet", "  # - {name: gone-quiet")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-drafts-") as tmp:
        rules = load_rules_text(active, "active", None, env={}).rules
        fields = kept_fields(rules)
        base = START.timestamp()
        end = base + DAYS * 86400.0
        path = Path(tmp) / "notifier.db"
        store = SqliteStore(path)
        day, batch, sent = 0, [], []
        year = _year(rng)
        for offset, kind, key, data in year:
            if offset // 86400 != day and batch:
                store.seen.record("bench", [], sent, history=batch, now=base + offset)
                day, batch, sent = int(offset // 86400), [], []
            kept = to_kept(Event(kind, key, data), base + offset, fields[kind])
            if kept is not None:
                batch.append(kept)
            if base + offset >= end - 7 * 86400 and data.get("result") == "Fail":
                sent.append(NewDelivery("failing-repeatedly", "t", kind, key, []))
        store.seen.record("bench", [], sent, history=batch, now=end)
        store.rules.add(active, author="bench", note="figure g's rules", at=end)
        out["events"] = len(year)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, NOTIFIER_DB=str(path), NOTIFIER_RULES_IN_STORE="true"
        )
        service = DraftService(settings, store)
        now = datetime_of(end)
        seconds = []
        for _ in range(RUNS):
            started = time.perf_counter()
            result = service.preview(draft, 7, now=now)
            seconds.append(time.perf_counter() - started)
        store.close()
    out["source"] = result.source
    out["period_events"] = result.events
    out["draft_alerts"] = result.draft_total
    out["active_alerts"] = result.active_total
    out["rules"] = len({r.rule for r in result.rows if r.draft is not None})
    out["seconds"] = statistics.median(seconds)
    out["all_seconds"] = seconds
    return out


def datetime_of(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


def rows(k: dict[str, Any]) -> list[Any]:
    from bench.table import Row

    return [
        Row(
            f"v. rules draft preview, 7 days of a 10,000-student year ({k['events']:,} events "
            f"kept; {k['period_events']:,} in the period, {k['rules']} rules, from "
            f"{k['source']}; {k['draft_alerts']:,} alerts vs {k['active_alerts']:,} sent)",
            f"{k['seconds']:.2f} s (median of {len(k['all_seconds'])})",
            "<= 5 s",
            k["seconds"] <= 5.0,
        )
    ]


if __name__ == "__main__":
    result = measure()
    from bench.table import render_table

    print(render_table(rows(result)))
    print(result, file=sys.stderr)
