"""What a teacher reads in Slack (contract sections 6 and 15), through the real loader,
sources, planner, store, delivery loop, renderer and Slack channel, posted to the
FakeSlack stand-in: the student's name in bold, the figures that made the rule fire on
one line, a grouped message headed by the exam's title and how many it holds, a digest
headed by the rule and how many, and names from Testpress that cannot mention or link."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notifier.delivery.slack_blocks import ZWJ
from notifier.sandbox.standins import SlackPost
from tests.inprocess import rig
from tests.rendering import slack_texts

IST = ZoneInfo("Asia/Kolkata")

LOW_SCORE = """
rules:
  - name: low-score
    event: attempt.completed
    when: {result: Fail, score: {lt: 40}}
    notify: [slack]
"""

GROUPED = """
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    group_by: [exam_id]
    group_wait: 1m
    group_interval: 5m
    notify: [slack]
"""

DIGEST = """
rules:
  - name: evening-failures
    event: attempt.completed
    when: {result: Fail}
    digest: {at: "18:00", timezone: Asia/Kolkata}
    notify: [slack]
"""


def _seen(text: str) -> str:
    """What Slack shows of a text object: entities decoded, zero-width joiners gone."""
    return html.unescape(text).replace(ZWJ, "")


def _sections(post: SlackPost) -> list[str]:
    return [b["text"]["text"] for b in post.blocks or [] if b["type"] == "section"]


def _fail(r: Any, exam: int, name: str, score: float) -> None:
    inst = r.sandbox.institute
    user = inst.add_user(name=name, email=f"{name.split()[0].lower()}@school.example")
    inst.complete_attempt(inst.start_attempt(exam, user), result="Fail", score=score)


def test_one_alert_shows_the_name_in_bold_and_the_figures_on_one_line(tmp_path: Path) -> None:
    with rig(tmp_path, LOW_SCORE) as r:
        exam = r.sandbox.institute.add_exam(title="Mock Test 3")
        r.cycle()  # baseline
        _fail(r, exam, "Asha Rao", 32.0)
        r.cycle()

        [post] = r.slack.received
        assert post.blocks is not None and post.blocks[0]["type"] == "header"
        assert post.blocks[0]["text"]["text"] == "low-score"
        [section] = post.blocks[1:]
        assert section["text"]["type"] == "mrkdwn"
        name, figures = section["text"]["text"].split("\n")
        assert name.startswith('*Asha Rao* completed exam "Mock Test 3"')
        assert _seen(figures) == "result Fail · score 32 < 40"
        # Testpress gives no page address for an attempt: nothing is linked.
        assert not any("<http" in text for _, text in slack_texts(post.blocks))
        # The notification text names the student too (plain: Slack formatting is off).
        assert post.text is not None and "Asha Rao" in post.text and post.mrkdwn is False


def test_a_mock_tests_failures_arrive_as_one_message_headed_by_the_exam(tmp_path: Path) -> None:
    with rig(tmp_path, GROUPED) as r:
        exam = r.sandbox.institute.add_exam(title="Mock Test 3")
        other = r.sandbox.institute.add_exam(title="Physics Mock 1")
        r.cycle()  # baseline
        for i in range(14):
            _fail(r, exam, f"Student {i:02d}", 20.0 + i)
        _fail(r, other, "Ravi Kumar", 10.0)
        r.cycle()
        assert r.slack.received == []  # the group waits a minute for the rest of the class

        r.clock.advance(61)
        r.cycle()
        posts = {p.blocks[0]["text"]["text"]: p for p in r.slack.received if p.blocks}
        assert set(posts) == {"Mock Test 3: 14 students failed", "Physics Mock 1: 1 student failed"}
        post = posts["Mock Test 3: 14 students failed"]
        assert post.text is not None
        assert post.text.startswith("[failed-exam] Mock Test 3: 14 students failed\n")
        assert post.blocks is not None
        assert _seen(post.blocks[1]["elements"][0]["text"]) == "Rule failed-exam · grouped by exam"
        sections = _sections(post)
        assert len(sections) == 14
        # The header names the exam, so each line is the student, their figures under it.
        assert sections[0].startswith("*Student 00* (score 20, ")
        assert all(s.split("\n")[1] == "result Fail" for s in sections)
        assert all("Mock Test 3" not in s for s in sections)


def test_a_digest_is_headed_by_its_rule_and_how_many_it_holds(tmp_path: Path) -> None:
    with rig(tmp_path, DIGEST) as r:
        morning = datetime.now(IST).replace(hour=10, minute=0, second=0, microsecond=0)
        r.clock.advance(morning.timestamp() - r.clock())
        algebra = r.sandbox.institute.add_exam(title="Algebra Mock 3")
        physics = r.sandbox.institute.add_exam(title="Physics Mock 1")
        r.cycle()
        _fail(r, algebra, "Asha Rao", 12.0)
        _fail(r, physics, "Ravi Kumar", 30.0)
        r.cycle()
        r.clock.advance(8 * 3600 + 1)  # 18:00
        r.cycle()

        [post] = r.slack.received
        assert post.blocks is not None
        assert post.blocks[0]["text"]["text"] == "evening-failures digest: 2 students failed"
        assert _seen(post.blocks[1]["elements"][0]["text"]) == "Rule evening-failures · digest"
        sections = [_seen(s) for s in _sections(post)]
        assert sorted(s.split(" completed")[0] for s in sections) == ["*Asha Rao*", "*Ravi Kumar*"]
        assert any('exam "Physics Mock 1"' in s for s in sections)  # a digest spans exams


def test_names_that_try_to_mention_or_link_are_shown_escaped(tmp_path: Path) -> None:
    with rig(tmp_path, GROUPED) as r:
        exam = r.sandbox.institute.add_exam(title="<!here> Mock *3*")
        r.cycle()
        _fail(r, exam, "Eve <!channel>", 5.0)
        _fail(r, exam, "Mallory <https://x.example|y>", 6.0)
        r.cycle()
        r.clock.advance(61)
        r.cycle()

        [post] = r.slack.received
        assert post.blocks is not None and post.text is not None
        texts = [("text", post.text), *slack_texts(post.blocks)]
        for _, text in texts:
            assert "<" not in text and ">" not in text, text
        assert post.blocks[0]["text"]["text"] == "&lt;!here&gt; Mock *3*: 2 students failed"
        eve, mallory = _sections(post)
        assert eve.startswith("*Eve &lt;!channel&gt;* ")
        assert mallory.startswith("*Mallory &lt;https://x.example|y&gt;* ")
        assert "Eve &lt;!channel&gt;" in post.text
        assert "Mallory &lt;https://x.example|y&gt;" in post.text
