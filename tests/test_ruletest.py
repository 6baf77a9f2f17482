"""`notifier test TESTS.yaml` (contract section 8): the repository's own rule tests pass;
a wrong expectation fails with a diff an admin can read; an invalid file is reported
where it is wrong, with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.cli import main

REPO = Path(__file__).resolve().parent.parent

RULES = """\
channels:
  teachers: {type: slack, channel: "#exams"}
  office: {type: email, to: [office@school.example]}
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    title: "{{ student }} failed {{ exam_title }}"
    notify: [teachers, office]
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["test", *args])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, tests: str) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    path = tmp_path / "cases.yaml"
    path.write_text("rules: rules.yaml\n" + tests)
    return path


def test_the_shipped_rule_tests_pass(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    for name in ("SLACK_BOT_TOKEN", "SMTP_HOST", "SMTP_FROM"):
        monkeypatch.delenv(name, raising=False)  # no network, so no settings needed
    code, out, err = run(capsys, "rules.tests.yaml")
    assert (code, err) == (0, "")
    assert out.endswith("tests, all passed\n")


def test_a_passing_case_checks_rule_channel_and_rendered_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """\
tests:
  - name: fail alerts both
    events:
      - event: attempt.completed
        data: {id: 1, result: Fail, student: A & B, exam_title: Algebra}
    expect:
      - {rule: failed-exam, channel: teachers, text: "A & B failed Algebra"}
      - {rule: failed-exam, channel: office, text: "[failed-exam] A & B failed Algebra"}
""",
    )
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert out == f"{path}: 1 test, all passed\n"


def test_failures_print_a_diff_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """\
tests:
  - name: right
    events:
      - event: attempt.completed
        data: {id: 1, result: Pass}
    expect: []
  - name: wrong text and a channel left out
    events:
      - event: attempt.completed
        data: {id: 2, result: Fail, student: Asha Verma, exam_title: Algebra}
    expect:
      - {rule: failed-exam, channel: teachers, text: Ravi}
  - name: expected an alert that never comes
    events:
      - event: attempt.completed
        data: {id: 3, result: Pass, student: Ravi}
    expect:
      - {rule: failed-exam, channel: office}
""",
    )
    code, out, _ = run(capsys, str(path))
    assert code == 1
    assert out.splitlines() == [
        f"FAIL {path}:8:5: wrong text and a channel left out",
        "  (- expected, not produced; + produced, not expected)",
        "  - failed-exam -> teachers: 'Ravi'",
        "  + failed-exam -> teachers: [failed-exam] Asha Verma failed Algebra",
        "  + failed-exam -> office: [failed-exam] Asha Verma failed Algebra",
        f"FAIL {path}:14:5: expected an alert that never comes",
        "  (- expected, not produced; + produced, not expected)",
        "  - failed-exam -> office",
        f"{path}: 3 tests, 2 failed",
    ]


def test_an_invalid_tests_file_is_reported_where_it_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """\
tests:
  - name: typos
    event:
      - event: attempt.completed
    expect:
      - {rule: failed-exam, channel: teachers, txt: Ravi}
  - name: bad data
    events:
      - event: attempt.complete
        data: {id: 1}
      - event: attempt.completed
        data: {id: 1, reslt: Fail}
    expect: []
""",
    )
    code, out, err = run(capsys, str(path))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{path}:3:5: a test needs 'events'",
        f"{path}:4:5: unknown key 'event' in a test; did you mean 'events'?",
        f"{path}:7:48: unknown key 'txt' in an expected alert; did you mean 'text'?",
        (f"{path}:10:16: unknown event 'attempt.complete'; did you mean 'attempt.completed'?"),
        f"{path}:13:23: unknown field 'reslt' for attempt.completed; did you mean 'result'?",
    ]


def test_unknown_rule_or_channel_in_expect_and_a_bad_rules_file_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """\
tests:
  - name: names
    events: []
    expect:
      - {rule: failed-exm, channel: teacher}
""",
    )
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}:6:9: unknown rule 'failed-exm' in expect; did you mean 'failed-exam'?",
        f"{path}:6:9: undefined channel 'teacher' in expect; did you mean 'teachers'?",
    ]

    (tmp_path / "rules.yaml").write_text(RULES.replace("{{ student }}", "{{ studnt }}"))
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert err.startswith(f"{tmp_path / 'rules.yaml'}:8:12: unknown field 'studnt'")
