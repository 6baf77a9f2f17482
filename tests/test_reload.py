"""Hot reload (`App.reload_rules_if_changed`, called by the run loop before each cycle):
a valid change takes effect at the next cycle, a new rule alerts only on what happens
from then on, and an invalid file is reported with its located problems (log and
`status --json`) while the last good rules keep running."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notifier.cli import main
from notifier.runtime.app import App
from notifier.runtime.compose import build
from notifier.runtime.config import load_rules
from notifier.sandbox import Sandbox
from notifier.sandbox.standins import WebhookReceiver
from notifier.settings import Settings
from notifier.state import SqliteStore
from notifier.state.lock import InstanceLock
from tests.e2e import complete_now

HEAD = """\
channels:
  hook: {type: webhook, url: "%s"}
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    notify: [hook]
"""
PASSED = """\
  - name: passed-exam
    event: attempt.completed
    when: {result: Pass}
    message: "{{ student }} passed {{ exam_title }}"
    notify: [hook]
"""


@dataclass
class Rig:
    app: App
    sandbox: Sandbox
    hook: WebhookReceiver
    path: Path
    settings: Settings
    exam: int

    def write(self, text: str) -> None:
        self.path.write_text(text % self.hook.url)
        bump = self.path.stat().st_mtime + 10  # a later mtime, however coarse the clock
        os.utime(self.path, (bump, bump))

    def complete(self, name: str, result: str) -> None:
        complete_now(self.sandbox.institute, self.exam, name, result)

    def cycle(self) -> list[tuple[str, str]]:
        """Reload if changed, one cycle; the (rule, text) of each alert it delivered."""
        before = len(self.hook.received)
        self.app.reload_rules_if_changed()
        self.app.cycle()
        return [(r.json["rule"], r.json["text"]) for r in self.hook.received[before:]]


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    with Sandbox(seed=21) as sandbox, WebhookReceiver() as hook:
        exam = sandbox.institute.add_exam(title="Algebra Mock 3")
        path = tmp_path / "rules.yaml"
        path.write_text(HEAD % hook.url)
        for name, value in {
            "TESTPRESS_BASE_URL": sandbox.url,
            "TESTPRESS_TOKEN": sandbox.token,
            "NOTIFIER_DB": str(tmp_path / "notifier.db"),
            "NOTIFIER_RULES": str(path),
        }.items():
            monkeypatch.setenv(name, value)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        store = SqliteStore(settings.db_path)
        app = build(settings, ruleset=load_rules(path, settings), store=store).app
        try:
            yield Rig(app, sandbox, hook, path, settings, exam)
        finally:
            app.close()
            store.close()


def status(rig: Rig, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`status --json` as an admin runs it while the service holds the store's lock."""
    with InstanceLock(rig.settings.db_path):
        assert main(["status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_valid_change_takes_effect_and_a_new_rule_starts_from_now(rig: Rig) -> None:
    assert rig.cycle() == []  # the baseline
    rig.complete("Asha", "Fail")
    rig.complete("Ravi", "Pass")  # before the new rule exists
    assert [rule for rule, _ in rig.cycle()] == ["failed-exam"]

    rig.write(HEAD + PASSED)
    assert rig.cycle() == []  # Ravi's earlier pass is history for the new rule
    rig.complete("Meena", "Pass")
    assert rig.cycle() == [
        ("passed-exam", "[passed-exam] Meena passed Algebra Mock 3 because result Pass")
    ]
    assert rig.app.ruleset.summary().endswith("2 rules (attempt.completed: 2), 1 channel")

    rig.write(HEAD.replace("result: Fail", "result: Not taken"))  # failed-exam: no fire here
    rig.complete("Kabir", "Fail")
    rig.complete("Zoya", "Pass")  # passed-exam was removed
    assert rig.cycle() == []


def test_an_invalid_file_is_reported_and_the_last_good_rules_keep_running(
    rig: Rig, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    rig.cycle()
    rig.write(HEAD.replace("result: Fail", "reslt: Fail") + PASSED.replace("student", "studnt"))
    with caplog.at_level(logging.ERROR):
        rig.complete("Asha", "Fail")
        assert [rule for rule, _ in rig.cycle()] == ["failed-exam"]  # the old rules ran
    problems = [
        f"{rig.path}:6:12: unknown field 'reslt' for attempt.completed; did you mean 'result'?",
        (
            f"{rig.path}:11:14: unknown field 'studnt' in the 'message' template for "
            "attempt.completed; did you mean 'student'?"
        ),
    ]
    assert "keeping the last good rules" in caplog.text
    assert all(p in caplog.text for p in problems), caplog.text
    report = status(rig, capsys)
    assert report["rules"]["error"] == "\n".join(problems)
    assert report["rules"]["path"] == str(rig.path)

    rig.write(HEAD)  # fixed
    rig.complete("Ravi", "Fail")
    assert [rule for rule, _ in rig.cycle()] == ["failed-exam"]
    assert status(rig, capsys)["rules"]["error"] is None
