"""`notifier sandbox --standins` (issue 23 part 6): a ready .env for `notifier run`, and
Slack, SMTP and webhook stand-ins that print what they receive, so every channel of a
rules file can be tried with no real Slack or mail server. Driven as an admin would:
the real CLI in processes, over real sockets."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values

from notifier.commands.sandbox import ENV_BEGIN, ENV_END
from notifier.sandbox.standins import free_port
from tests.e2e import clean_env, sqlite_rows

RULES = """\
channels:
  teachers: {type: slack, channel: "#sandbox-try"}
  office: {type: email, to: [office@school.example]}
  lms: {type: webhook, url: "${LMS_WEBHOOK_URL}", secret: "${LMS_WEBHOOK_SECRET}"}
  terminal: {type: console}
rules:
  - name: marked-attempt
    event: attempt.completed
    when: {percentage: 12.34}      # only the attempt this test completes
    notify: [teachers, office, lms, terminal]
"""


class Printed:
    """A process's standard output, line by line, read in the background."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, done: Callable[[list[str]], bool], timeout: float = 30) -> list[str]:
        """Wait for lines until `done(lines)`; fails on end of output or the deadline."""
        deadline = time.monotonic() + timeout
        while not done(self.lines):
            left = deadline - time.monotonic()
            assert left > 0, "timed out; printed so far:\n" + "\n".join(self.lines)
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, "the process ended; it printed:\n" + "\n".join(self.lines)
            self.lines.append(line)
        return self.lines


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Printed]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifier", "sandbox", "--port", str(free_port()),
         "--standins", "--write-env", ".env"],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        yield proc, Printed(proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err


def _post(url: str, data: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(
        url, json.dumps(data).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        answer: dict[str, object] = json.load(response)
    return answer


def _run_once(tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", "run", "--once"],
        cwd=tmp, env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_printed_env_runs_the_notifier_and_every_standin_prints_what_it_got(
    tmp_path: Path, sandbox: tuple[subprocess.Popen[str], Printed]
) -> None:
    _, printed = sandbox
    lines = printed.until(lambda lines: ENV_END in lines)
    block = lines[lines.index(ENV_BEGIN) : lines.index(ENV_END) + 1]
    written = (tmp_path / ".env").read_text()
    assert written == "\n".join(block) + "\n"  # the file is what it printed
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0  # it holds tokens
    env = dotenv_values(tmp_path / ".env")
    for name in ("TESTPRESS_BASE_URL", "TESTPRESS_TOKEN", "SLACK_API_URL", "SLACK_BOT_TOKEN",
                 "SMTP_HOST", "SMTP_PORT", "LMS_WEBHOOK_URL"):  # fmt: skip
        assert env.get(name), name
    assert env["SMTP_SECURITY"] == "none"
    (tmp_path / "rules.yaml").write_text(RULES)

    first = _run_once(tmp_path)  # the baseline: alerts on nothing that already exists
    assert first.returncode == 0, first.stderr[-3000:]
    base = env["TESTPRESS_BASE_URL"]
    aid = _post(f"{base}/_sandbox/attempts", {})["id"]
    done = {"result": "Fail", "percentage": 12.34, "percentile": 5.0}
    _post(f"{base}/_sandbox/attempts/{aid}/complete", done)
    second = _run_once(tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert any(line.startswith("[marked-attempt]") for line in second.stdout.splitlines())

    def each_channel(lines: list[str]) -> bool:
        return all(
            any(line.startswith(prefix) and "marked-attempt" in line for line in lines)
            for prefix in ("slack #sandbox-try:", "email to office@school.example:", "webhook ")
        )

    got = printed.until(each_channel)
    hook = next(line for line in got if line.startswith("webhook ") and "marked-attempt" in line)
    assert "(signature valid)" in hook  # signed with the LMS_WEBHOOK_SECRET it printed
    assert env["TESTPRESS_TOKEN"] not in second.stderr + second.stdout


def test_it_never_overwrites_an_env_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TESTPRESS_TOKEN=the-real-one\n")
    done = subprocess.run(
        [sys.executable, "-m", "notifier", "sandbox", "--port", str(free_port()),
         "--write-env", ".env"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--write-env: .env exists and was not written by the sandbox" in done.stderr
    assert (tmp_path / ".env").read_text() == "TESTPRESS_TOKEN=the-real-one\n"


def test_the_readme_quick_start_ends_with_alerts_on_every_channel(
    tmp_path: Path, sandbox: tuple[subprocess.Popen[str], Printed]
) -> None:
    """The README's quick start, in a copy of the repository's rules: `make sandbox`
    (what the fixture runs), then `notifier run` in the same folder. One student fails
    an exam at the bottom of the class, so every channel has something to show."""
    repo = Path(__file__).resolve().parents[1]
    shutil.copy(repo / "rules.yaml", tmp_path / "rules.yaml")
    _, printed = sandbox
    printed.until(lambda lines: ENV_END in lines)
    base = dotenv_values(tmp_path / ".env")["TESTPRESS_BASE_URL"]
    log = (tmp_path / "run.log").open("w")  # a file: a full pipe would block the notifier
    run = subprocess.Popen(
        [sys.executable, "-m", "notifier", "run"],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        console = Printed(run)
        while not _baseline_recorded(tmp_path / "notifier-sandbox.db"):  # alerts from now
            assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(0.1)
        aid = _post(f"{base}/_sandbox/attempts", {})["id"]
        failed = {"result": "Fail", "percentage": 3.0, "percentile": 2.0}
        _post(f"{base}/_sandbox/attempts/{aid}/complete", failed)
        printed.until(
            lambda lines: all(
                any(line.startswith(prefix) for line in lines)
                for prefix in ("slack ", "email ", "webhook ")
            ),
            timeout=180,
        )
        console.until(lambda lines: any(line.startswith("[") for line in lines), timeout=60)
    finally:
        run.send_signal(signal.SIGTERM)
        run.communicate(timeout=60)
        log.close()
    assert run.returncode == 0, (tmp_path / "run.log").read_text()[-3000:]


def _baseline_recorded(db: Path) -> bool:
    try:
        return bool(sqlite_rows(db, "SELECT 1 FROM meta WHERE key = 'baseline:attempts'"))
    except sqlite3.Error:
        return False
