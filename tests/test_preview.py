"""`notifier preview`: what the current rules would have sent over the last days, read
from the (sandbox) Testpress API through the real sources, counted per rule and
channel with rendered samples; nothing is sent and no state is written."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.sandbox import Sandbox
from notifier.sandbox.standins import WebhookReceiver

RULES = """\
channels:
  lms: {type: webhook, url: "%s"}
  terminal: {type: console}
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    notify: [lms, terminal]
  - name: low-percentile
    event: attempt.completed
    when: {percentile: {lt: 30}}
    title: "{{ student }}: bottom 30%%"
    message: "{{ student }} is at percentile {{ percentile | number(1) }} in {{ exam_title }}"
    notify: [terminal]
  - name: never
    event: attempt.completed
    when: {score: {gt: 1000}}
    notify: [terminal]
"""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=11) as sb:
        inst = sb.institute
        exam = inst.add_exam(title="Algebra Mock 3")
        now = datetime.now(UTC)
        for name, result, percentile in [
            ("Asha Verma", "Fail", 50.0),
            ("Ravi Kumar", "Fail", 20.0),
            ("Meena Iyer", "Pass", 12.5),
            ("Kabir Das", "Pass", 90.0),
        ]:
            user = inst.add_user(name=name, email=f"{name.split()[0].lower()}@school.example")
            attempt = inst.start_attempt(exam, user, started_at=now - timedelta(hours=3))
            inst.complete_attempt(
                attempt, result=result, percentile=percentile, completed_at=now - timedelta(hours=2)
            )
        inst.seed_history(40, days_ago_min=5, days_ago_max=9)  # outside --days 2
        yield sb


@pytest.fixture
def hook(webhook_receiver: WebhookReceiver) -> WebhookReceiver:
    """The receiver the rules file's `lms` channel posts to (a preview sends nothing)."""
    return webhook_receiver


def preview(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox: Sandbox,
    hook: WebhookReceiver,
    *args: str,
) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yaml").write_text(RULES % hook.url)
    monkeypatch.setenv("TESTPRESS_BASE_URL", sandbox.url)
    monkeypatch.setenv("TESTPRESS_TOKEN", sandbox.token)
    monkeypatch.setenv("NOTIFIER_RULES", "rules.yaml")
    monkeypatch.setenv("NOTIFIER_DB", str(tmp_path / "notifier.db"))
    return main(["preview", *args]), ""


def test_preview_counts_and_samples_per_rule_and_channel_and_sends_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sandbox: Sandbox,
    hook: WebhookReceiver,
) -> None:
    code, _ = preview(tmp_path, monkeypatch, sandbox, hook, "--days", "2")
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Preview of rules.yaml over the last 2 days (since ")
    assert lines[1] == "read attempts: 4 events"
    failed = lines.index("failed-exam (attempt.completed): 2 matches")
    assert lines[failed + 1] == "  lms (webhook): 2 alerts"
    samples = lines[failed + 2 : failed + 4]
    assert sorted(s.split(" completed")[0] for s in samples) == [
        "    [failed-exam] Asha Verma",
        "    [failed-exam] Ravi Kumar",
    ]
    assert all('exam "Algebra Mock 3"' in s and "because result Fail" in s for s in samples)
    assert lines[failed + 4] == "  terminal (console): 2 alerts"

    low = lines.index("low-percentile (attempt.completed): 2 matches")
    assert lines[low + 1] == "  terminal (console): 2 alerts"
    assert sorted(lines[low + 2 : low + 4]) == [
        "    [low-percentile] Meena Iyer is at percentile 12.5 in Algebra Mock 3"
        " because percentile 12.5 (rule: < 30)",
        "    [low-percentile] Ravi Kumar is at percentile 20 in Algebra Mock 3"
        " because percentile 20 (rule: < 30)",
    ]
    assert "never (attempt.completed): 0 matches" in lines
    assert lines[-1] == "Nothing was sent and no state was written."

    assert hook.received == []
    assert not (tmp_path / "notifier.db").exists()


def test_more_days_reach_further_back_and_samples_are_capped(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sandbox: Sandbox,
    hook: WebhookReceiver,
) -> None:
    code, _ = preview(tmp_path, monkeypatch, sandbox, hook, "--days", "12", "--samples", "1")
    out = capsys.readouterr().out
    assert code == 0
    assert "read attempts: 44 events" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("failed-exam "))
    matched = int(header.split(": ")[1].split()[0])
    assert matched > 2  # the history's failures too
    at = lines.index(header)
    assert lines[at + 1] == f"  lms (webhook): {matched} alerts"
    assert lines[at + 3] == f"  terminal (console): {matched} alerts"  # one sample each
    assert hook.received == []


def test_preview_of_an_unreachable_institute_exits_1(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sandbox: Sandbox,
    hook: WebhookReceiver,
) -> None:
    sandbox.expire_tokens()
    code, _ = preview(tmp_path, monkeypatch, sandbox, hook)
    out = capsys.readouterr().out
    assert code == 1
    assert "attempts: could not be read completely:" in out
    assert sandbox.token not in out


def test_a_disabled_rule_is_named_and_never_fires_in_the_preview(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sandbox: Sandbox,
    hook: WebhookReceiver,
) -> None:
    disabled = RULES.replace(
        "  - name: never\n",
        "  - name: failed-off\n    event: attempt.completed\n"
        "    enabled: false\n    when: {result: Fail}\n    notify: [lms]\n  - name: never\n",
    )
    monkeypatch.setattr(sys.modules[__name__], "RULES", disabled)
    code, _ = preview(tmp_path, monkeypatch, sandbox, hook, "--days", "2")
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "failed-exam (attempt.completed): 2 matches" in lines
    assert "failed-off: disabled (enabled: false), never fires" in lines
    assert not any(line.startswith("failed-off (") for line in lines)
    assert hook.received == []
