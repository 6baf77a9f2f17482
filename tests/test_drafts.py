"""A draft of the rules before it is saved (issue 21 part 2): checked by the loader of
`notifier check` (the same problems, hints apart), previewed over the events the store
kept by a notifier that ran (beside what the active rules sent), or over Testpress when
history lacks a field the draft reads, and tested with the institute's rule tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.drafts.check import Problem, check_draft
from notifier.drafts.service import DraftService, ReadOnly, test_draft
from notifier.obs.logs import register_secrets
from notifier.rules.load import RulesError
from notifier.runtime.compose import Parts, build
from notifier.runtime.drafts import draft_service
from notifier.sandbox import Sandbox
from notifier.sandbox.standins import WebhookReceiver
from notifier.settings import Settings
from tests.e2e import clean_env

HEAD = """\
channels:
  hook: {type: webhook, url: "%s"}
  desk: {type: console}
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
    notify: [hook, desk]
"""
TESTS = """\
tests:
  - name: a fail alerts the hook
    events:
      - event: attempt.completed
        data: {id: 1, result: Fail, student: Asha Verma, exam_title: Algebra}
    expect:
      - {rule: failed-exam, channel: hook, text: Asha Verma}
  - name: a pass sends nothing
    events:
      - event: attempt.completed
        data: {id: 2, result: Pass, student: Ravi Kumar, exam_title: Algebra}
    expect: []
"""


def test_a_draft_is_checked_by_the_loader_of_notifier_check(tmp_path: Path) -> None:
    draft = (HEAD % "https://lms.example/h").replace("result: Fail", "reslt: Fail")
    draft = draft.replace("notify: [hook]", "notify: [hok]")
    problems = check_draft(draft)
    assert problems == [
        Problem(7, 12, "unknown field 'reslt' for attempt.completed", "did you mean 'result'?"),
        Problem(8, 14, "undefined channel 'hok' in notify", "did you mean 'hook'?"),
    ]
    # `notifier check` on the same text says the same, at the same places.
    path = tmp_path / "rules.yaml"
    path.write_text(draft)
    done = subprocess.run(
        [sys.executable, "-m", "notifier", "check", str(path)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{path}:{p.line}:{p.col}: {p.message}; {p.hint}" for p in problems
    ]
    assert check_draft(HEAD % "https://lms.example/h") == []
    [syntax] = check_draft("rules: [\n")
    assert syntax.line >= 1 and syntax.hint is None


def test_rule_tests_run_against_the_draft_with_their_diff() -> None:
    good = test_draft(HEAD % "https://lms.example/h", TESTS)
    assert [(r.name, r.passed) for r in good] == [
        ("a fail alerts the hook", True),
        ("a pass sends nothing", True),
    ]
    # The draft also alerts on passes: the second case fails with what it produced.
    [first, second] = test_draft(HEAD % "https://lms.example/h" + PASSED, TESTS)
    assert first.passed and not second.passed
    assert second.where == "rules.tests.yaml:8:5"
    assert second.diff == [
        "+ passed-exam -> hook: [passed-exam] Ravi Kumar passed Algebra because result Pass",
        "+ passed-exam -> desk: [passed-exam] Ravi Kumar passed Algebra because result Pass",
    ]
    with pytest.raises(RulesError) as raised:
        test_draft(HEAD % "https://lms.example/h", TESTS.replace("failed-exam", "failed-exm"))
    assert "unknown rule 'failed-exm' in expect; did you mean 'failed-exam'?" in str(raised.value)


@dataclass
class Ran:
    """A notifier that ran for a while on the sandbox: its store holds history and the
    outbox of what its rules (failed-exam) sent."""

    parts: Parts
    sandbox: Sandbox
    hook: WebhookReceiver
    service: DraftService
    url: str


@pytest.fixture
def ran(tmp_path: Path, db: str) -> Iterator[Ran]:
    with Sandbox(seed=7) as sandbox, WebhookReceiver() as hook:
        inst = sandbox.institute
        exam = inst.add_exam(title="Algebra Mock 3")
        (tmp_path / "rules.yaml").write_text(HEAD % hook.url)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            TESTPRESS_BASE_URL=sandbox.url,
            TESTPRESS_TOKEN=sandbox.token,
            NOTIFIER_DB=db,
            NOTIFIER_RULES=str(tmp_path / "rules.yaml"),
            NOTIFIER_HISTORY_DAYS="0",
        )
        with build(settings) as parts:
            parts.app.cycle()  # the baseline: nothing yet
            now = datetime.now(UTC)
            for i, result in enumerate(["Fail", "Pass", "Fail", "Pass", "Pass"]):
                user = inst.add_user(name=f"Student {i}", email=f"s{i}@school.example")
                attempt = inst.start_attempt(exam, user, started_at=now - timedelta(hours=1))
                inst.complete_attempt(attempt, result=result, completed_at=now)
            parts.app.cycle()
            assert len(hook.received) == 2  # the two fails, sent by the active rules
            yield Ran(parts, sandbox, hook, draft_service(settings, parts.store), hook.url)


def test_a_draft_is_previewed_over_the_kept_events_beside_what_was_sent(ran: Ran) -> None:
    requests = len(ran.sandbox.request_log)
    result = ran.service.preview(HEAD % ran.url + PASSED, days=7)
    assert result.source == "history" and result.why == []
    assert result.events == 5
    counts = {(r.rule, r.channel): (r.draft, r.active) for r in result.rows}
    assert counts == {
        ("failed-exam", "hook"): (2, 2),
        ("passed-exam", "hook"): (3, None),  # not in the active rules
        ("passed-exam", "desk"): (3, None),
    }
    [desk] = [r for r in result.rows if r.channel == "desk"]
    assert len(desk.samples) == 3
    assert all("passed Algebra Mock 3" in s and "Student" in s for s in desk.samples)
    assert len(result.per_day) == 8  # today and the 7 days before
    assert sum(d for _, d, _ in result.per_day) == 8 == result.draft_total
    assert sum(a for _, _, a in result.per_day) == 2 == result.active_total
    assert len(ran.sandbox.request_log) == requests  # no Testpress request


def test_a_draft_reading_a_field_history_lacks_is_previewed_from_testpress(ran: Ran) -> None:
    draft = (HEAD % ran.url).replace("{result: Fail}", "{result: Fail, percentile: {lt: 101}}")
    requests = len(ran.sandbox.request_log)
    result = ran.service.preview(draft, days=1)
    assert len(ran.sandbox.request_log) > requests  # read from Testpress
    assert result.source == "testpress"
    assert result.why == ["rule 'failed-exam' reads percentile, which history does not keep"]
    counts = {(r.rule, r.channel): (r.draft, r.active) for r in result.rows}
    assert counts == {("failed-exam", "hook"): (2, 2)}


def test_with_rules_in_the_file_a_draft_cannot_be_saved(ran: Ran) -> None:
    assert not ran.service.editable
    assert ran.service.current().text == HEAD % ran.url
    with pytest.raises(ReadOnly):
        ran.service.save(HEAD % ran.url, note="x", by="asha", expected_active=None, source="cli")
    assert ran.parts.store.rules.listed() == []


def test_a_secret_a_draft_reads_from_the_environment_is_never_shown(
    ran: Ran, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A viewer may write `${VAR}` of a secret where a message or a problem shows it."""
    secret = "xoxb-draft-4f9a8b7c6d5e3a2b"
    register_secrets([secret])
    monkeypatch.setenv("DRAFT_TOKEN", secret)
    draft = (HEAD % ran.url).replace(
        "    notify: [hook]", '    message: "${DRAFT_TOKEN} {{ student }}"\n    notify: [hook]'
    )
    result = ran.service.preview(draft, days=1)
    [row] = result.rows
    assert row.samples and all(secret not in s and "Student" in s for s in row.samples)
    assert row.samples[0].startswith("[failed-exam] [redacted] Student")
    [problem] = ran.service.check(draft.replace("type: webhook", 'type: "${DRAFT_TOKEN}"'))
    assert problem.message == "unknown channel type '[redacted]' for channel 'hook'"
