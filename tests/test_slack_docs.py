"""docs/channels.md shows Slack messages as Slack gets them (Block Kit Builder's JSON):
each is exactly what the renderer produces today for the fixed input below, and each
block is one that slack_sdk's Block Kit models accept (a block it cannot parse, or one
that breaks Slack's limits, fails here before it fails in a teacher's channel).

After a deliberate change to the Slack wording, print the new JSON with
`python -m tests.test_slack_docs` and paste it into docs/channels.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from notifier.channels.base import Alert, Notification
from notifier.delivery.slack_blocks import ZWJ, slack_message
from notifier.events import Reason

DOC = Path(__file__).resolve().parents[1] / "docs" / "channels.md"
MARK = re.compile(r"<!-- slack-example: (\w+) -->\s*```json\n(.*?)```", re.S)
FAIL = Reason("result", "eq", "Fail", "Fail")


def _attempt(key: int, student: str, score: float, pct: float, *reasons: Reason) -> Alert:
    data = {
        "id": key,
        "exam_id": 133,
        "exam_title": "Mock Test 3",
        "user_id": key - 68000,
        "student": student,
        "score": score,
        "percentage": pct,
        "result": "Fail",
    }
    return Alert("attempt.completed", str(key), data, reasons)


def _quiet(user: int, student: str, days: int, title: str, last: str) -> Alert:
    data = {
        "user_id": user,
        "student": student,
        "days_inactive": days,
        "last_activity": last,
        "last_activity_kind": "attempt.completed",
        "last_activity_title": title,
    }
    return Alert("student.inactive", str(user), data, (Reason("days_inactive", "gte", 7, days),))


EXAMPLES = {
    "single": Notification(
        "d-1",
        "low-score",
        "teachers",
        (
            _attempt(
                68701,
                "Asha Rao",
                32,
                32,
                Reason("score", "lt", 40, 32),
                Reason("percentile", "lt", 20, 12),
            ),
        ),
    ),
    "grouped": Notification(
        "d-2",
        "failed-exam",
        "teachers",
        (
            _attempt(68702, "Asha Rao", 32, 32, FAIL),
            _attempt(68703, "Ravi Kumar", 28.5, 28.5, FAIL),
            _attempt(68704, "Eve <!channel>", 12, 12, FAIL),
        ),
        group="group:[133]",
    ),
    "digest": Notification(
        "d-3",
        "gone-quiet",
        "office",
        (
            _quiet(7, "Meera Iyer", 8, "Algebra Mock 2", "2026-11-29T10:00:00+05:30"),
            _quiet(9, "Karthik Menon", 12, "Polity Full Test 5", "2026-11-25T18:30:00+05:30"),
        ),
        group="digest:1796014800",
    ),
}


def rendered(name: str) -> dict[str, Any]:
    """The example as Block Kit Builder takes it: `{"blocks": [...]}`."""
    _, blocks = slack_message(EXAMPLES[name])
    return {"blocks": blocks}


def documented() -> dict[str, dict[str, Any]]:
    return {name: json.loads(body) for name, body in MARK.findall(DOC.read_text())}


def test_the_docs_show_every_example() -> None:
    assert sorted(documented()) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_docs_json_is_what_the_renderer_sends_today(name: str) -> None:
    assert documented()[name] == rendered(name), (
        "docs/channels.md is out of date; `python -m tests.test_slack_docs` prints it"
    )


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_block_is_one_slack_sdk_accepts(name: str) -> None:
    blocks = documented()[name]["blocks"]
    parsed = Block.parse_all(blocks)
    assert None not in parsed, blocks  # a block type the SDK does not know
    for raw, block in zip(blocks, parsed, strict=True):
        block.validate_json()  # raises SlackObjectFormationError past Slack's limits
        assert block.to_dict() == raw  # nothing the SDK would drop or change


def test_the_grouped_example_is_headed_by_the_exam_and_its_count() -> None:
    header = rendered("grouped")["blocks"][0]["text"]["text"]
    assert header == "Mock Test 3: 3 students failed"


if __name__ == "__main__":
    for example in sorted(EXAMPLES):
        print(f"<!-- slack-example: {example} -->\n```json")
        text = json.dumps(rendered(example), indent=2, ensure_ascii=False)
        print(text.replace(ZWJ, "\\u200d"))  # the joiners shown, not invisible
        print("```\n")
