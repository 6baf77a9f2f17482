"""Rule templates (`title`, `message`): a broken template fails `check` with its line,
never a live alert; what the admin wrote is what each channel shows, with every value
from Testpress escaped for that channel; the default wording stays when a rule has no
template, and takes over when a template fails on a live event."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from notifier.channels import CHANNEL_TYPES
from notifier.channels.base import Alert, Notification, Reason, SendContext
from notifier.delivery.render import (
    alert_summary,
    console_line,
    email_message,
    plain_text,
    slack_message,
    webhook_body,
)
from notifier.delivery.stages import Job, PassResult, RenderStage, SendStage
from notifier.rules.schema import Rule
from notifier.rules.templates import NO_TEMPLATES, TemplateTable
from notifier.runtime.config import RulesError, load_rules

REPO = Path(__file__).resolve().parent.parent
BAD = "tests/data/rules/templates/bad_templates.yaml"

HEAD = """\
channels:
  terminal: {type: console}
rules:
"""


def rule_with(tmp_path: Path, body: str) -> Rule:
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD + body)
    return load_rules(path, env={}).rules[0]


def test_broken_templates_fail_check_with_their_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(RulesError) as caught:
        load_rules(BAD, env={})
    assert [str(p).removeprefix(BAD + ":") for p in caught.value.problems] == [
        (
            "6:12: unknown field 'exam_titel' in the 'title' template for attempt.completed;"
            " did you mean 'exam_title'?"
        ),
        (
            "10:14: invalid 'message' template: unexpected end of template, expected 'end of"
            " print statement'."
        ),
        "14:14: invalid 'message' template: unknown filter 'minute'; did you mean 'minutes'?",
        (
            "18:14: the 'message' template fails: 'dict object' has no attribute 'scor'"
            " (line 2 of the template)"
        ),
        "24:14: the 'message' template fails: 'No time zone found with key Mars/Base'",
        "28:12: 'title' needs a template text, got a list",
        "29:13: 'message' needs a template text, got null",
    ]


def test_fields_a_template_reads_are_fetched_for_its_rule(tmp_path: Path) -> None:
    rule = rule_with(
        tmp_path,
        """\
  - name: failed
    event: attempt.completed
    when: {result: Fail}
    message: "{{ student }} (percentile {{ percentile }}) {{ answers | length }} answers"
    notify: [terminal]
""",
    )
    assert rule.fields == {"result", "student", "percentile", "answers"}
    assert rule.stages == {"list", "lookup", "detail", "answers"}


ASHA = {
    "id": 7,
    "exam_id": 133,
    "exam_title": "Algebra Mock 3",
    "student": "Asha <b>Verma</b> & <!channel>",
    "score": 12.0,
    "percentage": 41.456,
    "percentile": 12.25,
    "time_taken": 2520.0,
    "date": "2026-11-25T04:30:00+00:00",
    "result": "Fail",
}
TEMPLATED = """\
  - name: failed
    event: attempt.completed
    when: {result: Fail}
    title: "{{ student }} failed {{ exam_title }}"
    message: >-
      {{ student | safe }} scored {{ percentage | pct }} (percentile {{ percentile | number(1) }})
      in {{ time_taken | minutes }} min, started {{ date | localtime("Asia/Kolkata") }}
    notify: [terminal]
"""
SAID = "scored 41.5% (percentile 12.2) in 42 min, started 25 Nov 2026, 10:00 IST"


def notification(data: dict[str, Any]) -> Notification:
    alert = Alert("attempt.completed", "7", data, (Reason("result", "eq", "Fail", "Fail"),))
    return Notification("d-1", "failed", "x", (alert,))


def test_each_channel_shows_the_template_with_values_escaped_its_way(tmp_path: Path) -> None:
    t = rule_with(tmp_path, TEMPLATED).templates
    n = notification(ASHA)

    text, blocks = slack_message(n, t)
    assert blocks[0]["text"]["text"] == (
        "Asha &lt;b&gt;Verma&lt;/b&gt; &amp; &lt;!channel&gt; failed Algebra Mock 3"
    )
    assert blocks[1]["text"]["type"] == "plain_text"
    # The figures that made the rule fire on their own line (was "Because: result Fail").
    assert SAID in blocks[1]["text"]["text"] and "\nresult Fail" in blocks[1]["text"]["text"]
    assert "<!channel>" not in text + json.dumps(blocks)
    assert text.startswith("[failed] Asha &lt;b&gt;Verma&lt;/b&gt; &amp; &lt;!channel&gt; failed")

    subject, body, page = email_message(n, t)
    assert subject == "[failed] Asha <b>Verma</b> & <!channel> failed Algebra Mock 3"
    assert "<b>Verma</b>" not in page  # `| safe` cannot make a student's name markup
    assert "Asha &lt;b&gt;Verma&lt;/b&gt; &amp; &lt;!channel&gt; " + SAID in page
    assert SAID in body

    hook = webhook_body(n, datetime(2026, 11, 25, tzinfo=UTC), t)["text"]
    assert hook == f"[failed] Asha <b>Verma</b> & <!channel> {SAID} because result Fail"
    assert console_line(n, t) == hook and plain_text(n, t) == hook
    assert alert_summary(n.alerts[0], "failed", t) == hook


def test_a_template_that_fails_on_a_live_event_falls_back_to_the_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = rule_with(
        tmp_path,
        """\
  - name: failed
    event: attempt.completed
    title: "{{ (score + 1) | number }} points"
    message: "{{ student }} needs {{ 40 - score }} more"
    notify: [terminal]
""",
    ).templates
    good = {"student": "Ravi", "score": 12.0, "exam_title": "Algebra"}
    assert console_line(notification(good), t) == "[failed] Ravi needs 28 more because result Fail"
    assert email_message(notification(good), t)[0] == "[failed] 13 points"

    missing = {"student": "Ravi", "exam_title": "Algebra"}  # no score: arithmetic fails
    n = notification(missing)
    assert console_line(n, t) == ('[failed] Ravi completed exam "Algebra" because result Fail')
    assert email_message(n, t)[0].startswith('[failed] Ravi completed exam "Algebra"')
    assert "default wording" in caplog.text and "Ravi" not in caplog.text


def test_missing_fields_read_as_n_a(tmp_path: Path) -> None:
    t = rule_with(
        tmp_path,
        """\
  - name: failed
    event: attempt.completed
    message: "{{ student }}: percentile {{ percentile }}, {{ time_taken | minutes }} min"
    notify: [terminal]
""",
    ).templates
    line = console_line(notification({"student": "Ravi"}), t)
    assert line == "[failed] Ravi: percentile n/a, n/a min because result Fail"


def test_the_running_rules_templates_reach_a_real_channel(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD + TEMPLATED)
    ruleset = load_rules(path, env={})
    stream = io.StringIO()
    ctx = SendContext(settings=None, extra={"console_stream": stream})
    channel = CHANNEL_TYPES["console"].build("terminal", ruleset.channels["terminal"].config, ctx)

    def deliver(table: TemplateTable) -> None:
        """The render and send stages, as the delivery chain runs them."""
        job = Job((), channel, None, PassResult(), notification(ASHA))  # type: ignore[arg-type]
        SendStage()(RenderStage(table)(job))

    deliver(NO_TEMPLATES)
    assert SAID not in stream.getvalue()  # not these rules' table: the default wording

    deliver(TemplateTable.of(ruleset.rules))
    last = stream.getvalue().splitlines()[-1]
    assert SAID in last and "<!channel>" in last  # console text is not escaped


def test_templates_do_not_leak_from_a_rule_to_another_kind(tmp_path: Path) -> None:
    rule = rule_with(tmp_path, TEMPLATED)
    other = Alert("conference.attendance", "12:a", {"student": "Meena", "duration": 60.0})
    n = Notification("d", "failed", "x", (other,))
    assert console_line(n, rule.templates) == "[failed] Meena attended a live class for 1 min"


def test_slack_keeps_message_lines_and_email_html_breaks_them(tmp_path: Path) -> None:
    t = rule_with(
        tmp_path,
        """\
  - name: failed
    event: attempt.completed
    message: |
      {{ student }} failed
      {{ exam_title }}
    notify: [terminal]
""",
    ).templates
    n = notification({"student": "Ravi\nKumar", "exam_title": "Algebra"})
    _, blocks = slack_message(n, t)
    assert blocks[1]["text"]["text"].startswith("Ravi Kumar failed\nAlgebra")
    assert "Ravi Kumar failed<br>Algebra" in email_message(n, t)[2]
    assert console_line(n, t) == "[failed] Ravi Kumar failed Algebra because result Fail"
