"""What the benchmark's parts share: the rules file, the notifier's environment, the
sandbox's control endpoints, and small statistics."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

# A Standard Webhooks secret for the benchmark only (signing is part of the cost).
WEBHOOK_SECRET = "whsec_YmVuY2gtc2lnbmluZy1zZWNyZXQtMDEyMzQ1Njc4OQ=="
LIST = "/api/v2.5/admin/attempts/"
DETAIL = "/api/v2.5/admin/attempts/{}/"
USER = "/api/v2.5/admin/users/{}/"
EXAM = "/api/v2.5/admin/exams/{}/"
DETAIL_CONCURRENCY = 8  # what notifier.sources.base uses for detail fetches
# percentile < 12 matches about 10% of seeded attempts (percentile is roughly uniform
# over 0..100, and one exam in five hides percentiles).
PERCENTILE_BELOW = 12.0

BACKLOG_RULES = f"""\
channels:
  lms:
    type: webhook
    url: ${{LMS_URL}}
    secret: ${{LMS_SECRET}}
rules:
  - name: low-percentile
    event: attempt.completed
    when:
      percentile: {{lt: {PERCENTILE_BELOW:g}}}
    notify: [lms]
"""

LATENCY_RULES = """\
channels:
  lms:
    type: webhook
    url: ${LMS_URL}
    secret: ${LMS_SECRET}
rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [lms]
"""


def notifier_env(
    workdir: Path,
    sandbox_url: str,
    token: str,
    webhook_url: str,
    rules: str,
    **extra: str,
) -> dict[str, str]:
    """The environment `notifier run` gets: every notifier variable set here, none
    inherited (a developer's own TESTPRESS_* must not leak into a run)."""
    (workdir / "rules.yaml").write_text(rules)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TESTPRESS_", "SLACK_", "SMTP_", "NOTIFIER_", "LMS_"))
    }
    env.update(
        {
            "TESTPRESS_BASE_URL": sandbox_url,
            "TESTPRESS_TOKEN": token,
            "LMS_URL": webhook_url,
            "LMS_SECRET": WEBHOOK_SECRET,
            "NOTIFIER_RULES": str(workdir / "rules.yaml"),
            "NOTIFIER_DB": str(workdir / "notifier.db"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def use_env(env: Mapping[str, str]) -> None:
    """Make `env` this process's environment (for an in-process App)."""
    os.environ.clear()
    os.environ.update(env)


class Control:
    """The sandbox's `/_sandbox/` endpoints (never counted, never faulty)."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url, timeout=120)

    def counts(self) -> dict[str, int]:
        return dict(self.http.get("/_sandbox/stats").json())

    def total(self) -> int:
        return sum(self.counts().values())

    def reset(self) -> None:
        self.http.post("/_sandbox/reset-counts").raise_for_status()

    def history(self, n: int, days_ago_min: float, days_ago_max: float) -> int:
        body = {"n": n, "days_ago_min": days_ago_min, "days_ago_max": days_ago_max}
        return int(self.http.post("/_sandbox/history", json=body).json()["attempts"])

    def content_history(self, n: int, hours_ago: float) -> int:
        body = {"n": n, "hours_ago": hours_ago}
        reply = self.http.post("/_sandbox/content-history", json=body)
        return int(reply.json()["content_attempts"])

    def start_attempt(self, exam_id: int, user_id: int) -> int:
        body = {"exam_id": exam_id, "user_id": user_id}
        return int(self.http.post("/_sandbox/attempts", json=body).json()["id"])

    def complete(self, attempt_id: int, **fields: Any) -> None:
        self.http.post(f"/_sandbox/attempts/{attempt_id}/complete", json=fields).raise_for_status()

    def close(self) -> None:
        self.http.close()


def bare_client(url: str, token: str) -> httpx.Client:
    """The limit's client: httpx with the notifier's pool size and headers."""
    return httpx.Client(
        base_url=url,
        timeout=60,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        headers={"Accept": "application/json", "Authorization": f"JWT {token}"},
    )


def bare_pages(http: httpx.Client, path: str, params: dict[str, Any]) -> Iterator[Any]:
    """Every page of a list, following `next` (its path and query, on our base URL)."""
    url: str = path
    query: dict[str, Any] | None = params
    while True:
        response = http.get(url, params=query)
        response.raise_for_status()
        body = response.json()
        yield body
        nxt = body.get("next")
        if not nxt:
            return
        parts = urlsplit(nxt)
        url, query = parts.path + (f"?{parts.query}" if parts.query else ""), None


def percentile(values: list[float], pct: float) -> float:
    """The `pct` percentile (0..100) by the inclusive method."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(pct) - 1]


def file_bytes(db: Path) -> int:
    """The state store's size on disk: the database and any WAL/SHM beside it."""
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())


@contextmanager
def notifier_running(cwd: str | Path, env: Mapping[str, str]) -> Iterator[list[str]]:
    """`notifier run` in its own process for the length of the block. Yields the lines it
    has written to standard error so far (a figure that measured nothing shows them);
    at the end it is stopped with SIGTERM, and killed if it does not stop in 10 s."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifier", "run"],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        yield stderr
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
