"""Figure f: wall time of `notifier check rules.yaml` (the repository's example rules,
with the settings its channels need), the median of several runs."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 7
ROOT = Path(__file__).resolve().parent.parent


def _command() -> list[str]:
    script = Path(sys.executable).parent / "notifier"
    if script.exists():
        return [str(script)]
    found = shutil.which("notifier")
    return [found] if found else [sys.executable, "-m", "notifier"]


def measure() -> dict[str, float]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TESTPRESS_", "SLACK_", "SMTP_", "NOTIFIER_", "LMS_"))
    }
    env.update(
        {"SLACK_BOT_TOKEN": "xoxb-bench", "SMTP_HOST": "127.0.0.1", "SMTP_FROM": "n@school.example"}
    )
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        shutil.copy(ROOT / "rules.yaml", Path(tmp) / "rules.yaml")
        command = [*_command(), "check", "rules.yaml"]
        for _ in range(RUNS):
            started = time.perf_counter()
            out = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            if out.returncode != 0:
                raise RuntimeError(f"notifier check failed: {out.stderr.strip()}")
    return {"median": statistics.median(times), "min": min(times)}
