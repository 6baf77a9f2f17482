"""Figure b: an idle cycle (nothing new, nothing running) at 1,000 and at 100,000
completed exam attempts of history, and at 1,000 and 50,000 content attempts completed
in the lookback window (50,000 is a busy day's videos), beside a naive poller.

The notifier runs in this process (`App.cycle`, after its baseline cycle); the sandbox
in another, which counts the requests it serves. The naive poller is what an admin
would script: every page of the completed list, ids compared in memory.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    BACKLOG_RULES,
    LIST,
    Control,
    bare_client,
    bare_pages,
    notifier_env,
    use_env,
)
from bench.serve import Child

SIZES = (1_000, 100_000)
CONTENT_SIZES = (1_000, 50_000)
IDLE_CYCLES = 5
CONTENT = "/api/v3/admin/chapter-content-attempts/"
CONTENT_RULES = """\
channels:
  lms:
    type: webhook
    url: ${LMS_URL}
rules:
  - name: video-skimmed
    event: content_attempt.completed
    when:
      content_type: video
      watched_percentage: {lt: 50}
    notify: [lms]
"""


def _notifier_idle(
    url: str, token: str, control: Control, rules: str = BACKLOG_RULES
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        use_env(notifier_env(Path(tmp), url, token, "http://127.0.0.1:9/unused", rules))
        from notifier.runtime.compose import build
        from notifier.settings import load_settings

        parts = build(load_settings())
        app = parts.app
        try:
            app.cycle()  # the baseline
            requests: list[int] = []
            seconds: list[float] = []
            for _ in range(IDLE_CYCLES):
                control.reset()
                started = time.perf_counter()
                app.cycle()
                seconds.append(time.perf_counter() - started)
                requests.append(control.total())
        finally:
            parts.close()
    return {
        "requests": max(requests),
        "seconds": statistics.median(seconds),
        "sources": len(app.sources_in_use()),
    }


def _naive_cycle(
    url: str,
    token: str,
    control: Control,
    path: str = LIST,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One cycle of the naive poller: every page read, the ids collected and compared
    with the last cycle's. Its cycles all make the same requests, so one is timed: the
    first, whose comparison (with nothing) costs what any other's would."""
    previous: set[int] = set()
    http = bare_client(url, token)
    control.reset()
    started = time.perf_counter()
    ids: set[int] = set()
    for body in bare_pages(http, path, params or {"state": 1}):
        rows = body["results"]
        rows = rows["content_attempts"] if isinstance(rows, dict) else rows
        ids.update(row["id"] for row in rows)
    new = ids - previous
    seconds = time.perf_counter() - started
    http.close()
    return {"requests": control.total(), "seconds": seconds, "new": len(new)}


def measure() -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {"exam": {}, "content": {}}
    for size in SIZES:
        with Child.start("sandbox", history=size) as sandbox:
            control = Control(sandbox.url)
            notifier = _notifier_idle(sandbox.url, sandbox.token, control)
            naive = _naive_cycle(sandbox.url, sandbox.token, control)
            control.close()
        out["exam"][size] = {"notifier": notifier, "naive": naive}
    for size in CONTENT_SIZES:
        with Child.start("sandbox") as sandbox:
            control = Control(sandbox.url)
            control.content_history(size, hours_ago=12)
            notifier = _notifier_idle(sandbox.url, sandbox.token, control, CONTENT_RULES)
            since = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
            params = {"completed_after": since}
            naive = _naive_cycle(sandbox.url, sandbox.token, control, CONTENT, params)
            control.close()
        out["content"][size] = {"notifier": notifier, "naive": naive}
    return out
