"""Under CI the browser tests fail, not skip, when Chromium (or Playwright) is missing:
a skip there would hide a broken install. Outside CI they skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _browser_tests(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": ci, "PATH": "/nonexistent"}  # no chromium to find
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/browser"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_chromium_the_browser_tests_fail_in_ci_and_skip_elsewhere() -> None:
    ci = _browser_tests("true")
    assert ci.returncode != 0
    assert "the browser tests cannot run in CI: no " in ci.stdout
    local = _browser_tests("")
    assert local.returncode == 5 or "skipped" in local.stdout, local.stdout  # 5: none ran
    assert "cannot run in CI" not in local.stdout
