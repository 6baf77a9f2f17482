"""`check` catches what would silently never match (contract section 15): fixed-set
values (the exact messages are in tests/test_rules_load.py with the bad files), `NA`
compiled as the null every "NA" arrives as, and `enabled: false`: loaded and checked,
never fires, in `check`, `test`, `preview` and `run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.cli import main
from notifier.events import Event
from notifier.rules.evaluate import match_rule
from notifier.runtime.config import load_rules
from notifier.testpress.models import Attempt

RULES = """\
channels:
  terminal: {type: console}
rules:
  - name: not-graded
    event: attempt.completed
    when: {result: NA}
    notify: [terminal]
  - name: failed-or-not-graded
    event: attempt.completed
    when: {result: {in: [Fail, NA]}}
    notify: [terminal]
  - name: graded-not-failed
    event: attempt.completed
    when: {result: {not_in: [Fail, NA]}}
    notify: [terminal]
  - name: graded
    event: attempt.completed
    when: {result: {ne: NA}}
    notify: [terminal]
  - name: not-not-graded
    event: attempt.completed
    when: {not: {result: NA}}
    notify: [terminal]
"""


def _event(result: str) -> Event:
    """An attempt as the poll makes it: through the tolerant model, so "NA" is null."""
    data = Attempt.model_validate({"id": 1, "result": result}).to_data()
    return Event("attempt.completed", "1", data)


@pytest.mark.parametrize(
    ("result", "fired"),
    [
        ("NA", {"not-graded", "failed-or-not-graded"}),
        ("Fail", {"failed-or-not-graded", "graded", "not-not-graded"}),
        ("Pass", {"graded-not-failed", "graded", "not-not-graded"}),
    ],
)
def test_na_in_a_condition_matches_what_testpress_calls_na(
    tmp_path: Path, result: str, fired: set[str]
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    rules = load_rules(path, env={}).rules
    assert _event(result).data["result"] is (None if result == "NA" else result)
    assert {r.name for r in rules if match_rule(r, _event(result))} == fired


DISABLED = """\
channels:
  terminal: {type: console}
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    notify: [terminal]
  - name: old-rule
    event: attempt.completed
    enabled: false
    when: {result: Fail}
    notify: [terminal]
  - name: watch-videos
    event: content_attempt.completed
    enabled: false
    notify: [terminal]
"""


def test_check_loads_a_disabled_rule_and_says_it_never_fires(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTIFIER_DB", str(tmp_path / "notifier.db"))
    (tmp_path / "rules.yaml").write_text(DISABLED)
    assert main(["check", "rules.yaml"]) == 0
    assert capsys.readouterr().out == (
        "rules.yaml: OK, 1 rule (attempt.completed: 1), 1 channel; "
        "2 disabled (never fire): old-rule, watch-videos\n"
    )
    ruleset = load_rules(tmp_path / "rules.yaml", env={})
    assert [r.name for r in ruleset.rules] == ["failed-exam"]
    assert ruleset.kinds_used() == {"attempt.completed"}  # its source is not polled


def test_a_disabled_rule_is_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yaml").write_text(
        DISABLED.replace("{result: Fail}\n    notify", "{result: fial}\n    notify", 2)
    )
    assert main(["check", "rules.yaml"]) == 2
    assert capsys.readouterr().err == (
        "rules.yaml:6:20: 'fial' is not a value of 'result'; did you mean 'Fail'?\n"
        "rules.yaml:11:20: 'fial' is not a value of 'result'; did you mean 'Fail'?\n"
    )


def test_a_disabled_rule_never_fires_in_rule_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules.yaml").write_text(DISABLED)
    tests = tmp_path / "tests.yaml"
    tests.write_text(
        "rules: rules.yaml\n"
        "tests:\n"
        "  - name: only the enabled rule fires\n"
        "    events:\n"
        "      - event: attempt.completed\n"
        "        data: {id: 1, result: Fail, student: Asha}\n"
        "    expect:\n"
        "      - {rule: failed-exam, channel: terminal}\n"
        "  - name: the disabled one is known but silent\n"
        "    events:\n"
        "      - event: attempt.completed\n"
        "        data: {id: 2, result: Fail, student: Ravi}\n"
        "    expect:\n"
        "      - {rule: failed-exam, channel: terminal}\n"
        "      - {rule: old-rule, channel: terminal}\n"
    )
    assert main(["test", str(tests)]) == 1
    out = capsys.readouterr().out
    assert out.endswith(f"{tests}: 2 tests, 1 failed\n")
    assert "- old-rule -> terminal" in out
    assert "unknown rule" not in out


def test_a_disabled_rule_never_fires_in_run(tmp_path: Path) -> None:
    import json

    from tests.e2e import WEBHOOK_RULES, open_harness

    rules = WEBHOOK_RULES + (
        "  - name: failed-off\n    event: attempt.completed\n    enabled: false\n"
        "    when: {result: Fail}\n    notify: [lms]\n"
    )
    with open_harness(tmp_path, seed=8, rules=rules) as h:
        assert h.notifier("run", "--once").returncode == 0  # the baseline
        inst = h.sandbox.institute
        exam, user = inst.add_exam(title="Physics"), inst.add_user(name="Zoya")
        inst.complete_attempt(inst.start_attempt(exam, user), result="Fail", score=1.0)
        done = h.notifier("run", "--once")
        assert done.returncode == 0, done.stderr
        assert [r.json["rule"] for r in h.webhook.received] == ["failed-exam"]
        listed = json.loads(h.notifier("deliveries", "--json").stdout)
        assert [(d["rule"], d["student"]) for d in listed] == [("failed-exam", "Zoya")]
