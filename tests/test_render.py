"""What an admin reads: every alert names the rule, the student, what they did and why it
fired, in every format, and nothing from Testpress can mention, link or format in Slack
or break an email header."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from notifier.channels.base import Alert, Notification, Reason
from notifier.delivery.render import (
    ZWJ,
    alert_summary,
    console_line,
    email_message,
    plain_text,
    slack_message,
    webhook_body,
)

ATTEMPT = {
    "id": 68701,
    "exam_id": 133,
    "exam_title": "Algebra Mock 3",
    "student": "Asha Verma",
    "user_id": 9,
    "score": 12.0,
    "percentage": 40.0,
    "percentile": 12.5,
    "result": "Fail",
}
CONTENT = {
    "id": 501,
    "user_id": 9,
    "chapter_content_id": 77,
    "content_type": "video",
    "title": "Kinematics part 1",
    "course_title": "Physics 11",
    "student": "Asha Verma",
    "watched_percentage": 35.0,
}
CONFERENCE = {
    "conference_id": 12,
    "conference_title": "Organic Chemistry live",
    "name": "Ravi Kumar",
    "email": "ravi@example.com",
    "student": "Ravi Kumar",
    "duration": 312.0,
    "sessions": 2,
}


def notification(*alerts: Alert, rule: str = "failed-exam") -> Notification:
    return Notification(id="d-1", rule=rule, channel="teachers", alerts=alerts)


def alert(event: str, data: dict[str, Any], *reasons: Reason, key: str = "1") -> Alert:
    return Alert(event=event, key=key, data=data, reasons=reasons)


def readable(rendered: str) -> str:
    """What a person sees: entities decoded, invisible joiners gone."""
    return html.unescape(rendered).replace(ZWJ, "")


def every_format(n: Notification) -> list[str]:
    text, blocks = slack_message(n)
    subject, body, html = email_message(n)
    return [
        plain_text(n),
        console_line(n),
        text,
        json.dumps(blocks, ensure_ascii=False),
        subject,
        body,
        html,
        webhook_body(n, datetime(2026, 11, 25, tzinfo=UTC))["text"],
    ]


@pytest.mark.parametrize(
    ("event", "data", "reason", "expected"),
    [
        (
            "attempt.completed",
            ATTEMPT,
            Reason("percentile", "lt", 30, 12.5),
            ["Asha Verma", "Algebra Mock 3", "percentile 12.5 (rule: < 30)", "score 12"],
        ),
        (
            "content_attempt.completed",
            CONTENT,
            Reason("watched_percentage", "lt", 50, 35.0),
            ["Asha Verma", "Kinematics part 1", "Physics 11", "watched_percentage 35"],
        ),
        (
            "conference.attendance",
            CONFERENCE,
            Reason("duration", "lt", 600, 312.0),
            ["Ravi Kumar", "Organic Chemistry live", "5.2 min", "2 sessions"],
        ),
    ],
)
def test_every_event_kind_names_rule_student_subject_and_firing_values(
    event: str, data: dict[str, Any], reason: Reason, expected: list[str]
) -> None:
    n = notification(alert(event, data, reason), rule="watch-this")
    _, blocks = slack_message(n)
    for rendered in every_format(n):
        assert "watch-this" in rendered
        for piece in expected:
            if rendered == json.dumps(blocks, ensure_ascii=False):
                # Slack's blocks put the figures on one line: `percentile 12.5 < 30`.
                piece = piece.replace(" (rule: ", " ").removesuffix(")")
            assert piece in readable(rendered), (piece, rendered)


def test_blocks_header_names_the_rule() -> None:
    _, blocks = slack_message(notification(alert("attempt.completed", ATTEMPT)))
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "failed-exam"


def test_equality_reason_reads_as_field_and_value() -> None:
    line = alert_summary(
        alert("attempt.completed", ATTEMPT, Reason("result", "eq", "Fail", "Fail")), "failed-exam"
    )
    assert line.startswith('[failed-exam] Asha Verma completed exam "Algebra Mock 3"')
    assert line.endswith("because result Fail")
    assert line.count("result Fail") == 1  # not repeated among the details


@pytest.mark.parametrize(
    ("event", "data", "expected"),
    [
        (
            "attempt.completed",
            {"id": 5, "exam_id": 133, "name": "Asha V"},
            "Asha V completed exam 133",
        ),
        (
            "attempt.completed",
            {"id": 5, "exam_id": 133, "username": "asha99"},
            "asha99 completed exam 133",
        ),
        (
            "attempt.completed",
            {"id": 5, "exam_id": 133, "user_id": 42},
            "user 42 completed exam 133",
        ),
        (
            "content_attempt.completed",
            {
                "id": 8,
                "user_id": 3,
                "chapter_content_id": 77,
                "content_type": "quiz",
                "course_id": 4,
            },
            "user 3 completed quiz 77 in course 4",
        ),
        (
            "conference.attendance",
            {"conference_id": 12, "email": "x@example.com", "duration": 30},
            "x@example.com attended live class 12 for 30 s",
        ),
        ("conference.attendance", {"conference_id": 12}, "unknown student attended live class 12"),
    ],
)
def test_missing_titles_and_names_fall_back_to_ids(
    event: str, data: dict[str, Any], expected: str
) -> None:
    assert expected in alert_summary(alert(event, data), "r")


HOSTILE = "<!channel> <@U123> <https://x|click> *bold* _it_ ~strike~ `code` & co"


def _text_objects(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
            found.append(node)
        for value in node.values():
            found.extend(_text_objects(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_text_objects(value))
    return found


def test_slack_text_from_testpress_cannot_mention_link_or_format() -> None:
    data = {**ATTEMPT, "student": HOSTILE, "exam_title": "<!here> exam"}
    reason = Reason("name", "matches", "x", HOSTILE)
    text, blocks = slack_message(notification(alert("attempt.completed", data, reason)))

    objects = _text_objects(blocks)
    for piece in [text, *(o["text"] for o in objects)]:
        assert "<" not in piece and ">" not in piece
    # The name is bold in mrkdwn (contract section 15), so Testpress text is now in
    # mrkdwn (it was only in plain_text): escaped, and its formatting characters each
    # wrapped in zero-width joiners so they cannot open or close bold, italics, strike
    # or code. The only bare `*` are ours, around the name.
    section = blocks[1]["text"]
    assert section["type"] == "mrkdwn"
    assert "&lt;!channel&gt; &lt;@U123&gt; &lt;https://x|click&gt;" in section["text"]
    assert "&lt;!here&gt; exam" in section["text"]
    assert readable(section["text"]).startswith(f"*{html.unescape(HOSTILE)}* completed")
    bare = section["text"].replace(f"{ZWJ}*{ZWJ}", "")
    assert bare.startswith("*") and bare.count("*") == 2
    for char in "_~`":
        assert section["text"].replace(f"{ZWJ}{char}{ZWJ}", "").count(char) == 0, char
    assert "&lt;!channel&gt;" in text
    # The fallback text is posted with mrkdwn off (the channel test checks that), so
    # it shows names exactly as written, only `&<>` escaped.
    assert "*bold*" in text and ZWJ not in text
    assert "&amp; co" in text


def test_hundred_alerts_stay_within_slack_limits() -> None:
    alerts = [
        alert("attempt.completed", {**ATTEMPT, "student": f"Student {i}" * 50}, key=str(i))
        for i in range(100)
    ]
    text, blocks = slack_message(notification(*alerts))
    assert len(blocks) <= 50
    assert len(text) <= 3000
    assert all(len(o["text"]) <= 3000 for o in _text_objects(blocks))
    assert "and 52 more" in json.dumps(blocks)  # header + 48 alerts + the "more" line
    assert "and 95 more" in text
    assert "Student 0" in text


def test_one_huge_alert_is_cut_to_the_text_limit() -> None:
    reasons = tuple(Reason(f"f{i}", "eq", "x" * 100, "y" * 300) for i in range(40))
    _, blocks = slack_message(notification(alert("attempt.completed", ATTEMPT, *reasons)))
    assert all(len(o["text"]) <= 3000 for o in _text_objects(blocks))


def test_email_subject_never_holds_a_line_break() -> None:
    data = {**ATTEMPT, "exam_title": "Mock\r\nBcc: victim@example.com\n3", "student": "A\u2028B"}
    subject, text, html = email_message(notification(alert("attempt.completed", data)))
    assert subject.startswith("[failed-exam] ")
    assert not any(c in subject for c in "\r\n\u2028\u2029")
    assert "Mock Bcc: victim@example.com 3" in subject


def test_email_html_escapes_testpress_text() -> None:
    data = {**ATTEMPT, "student": "<script>alert(1)</script>", "exam_title": 'A & "B"'}
    _, text, html = email_message(notification(alert("attempt.completed", data)))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html and "A &amp; &quot;B&quot;" in html
    assert "<script>alert(1)</script>" in text  # the plain part is plain


def test_console_line_is_one_line_per_alert() -> None:
    alerts = [
        alert("attempt.completed", {**ATTEMPT, "student": f"S{i}\nnext"}, key=str(i))
        for i in range(3)
    ]
    lines = console_line(notification(*alerts)).split("\n")
    assert len(lines) == 3
    assert all(line.startswith("[failed-exam] S") for line in lines)


def test_webhook_body_has_exactly_the_contract_shape() -> None:
    n = notification(
        alert("attempt.completed", ATTEMPT, Reason("result", "eq", "Fail", "Fail"), key="68701")
    )
    ist = timezone(timedelta(hours=5, minutes=30))
    body = webhook_body(n, datetime(2026, 11, 25, 15, 30, tzinfo=ist))
    assert body == {
        "type": "notifier.alert",
        "id": "d-1",
        "rule": "failed-exam",
        "channel": "teachers",
        "text": plain_text(n),
        "alerts": [{"event": "attempt.completed", "key": "68701", "data": ATTEMPT}],
        "sent_at": "2026-11-25T10:00:00Z",
    }
    json.dumps(body)  # serialisable as is


def test_a_slack_group_is_headed_by_the_field_it_was_grouped_by() -> None:
    # A rule grouped by course whose alerts happen to share one video: the course heads it.
    alerts = [
        alert("content_attempt.completed", {**CONTENT, "course_id": 4, "user_id": i}, key=str(i))
        for i in range(3)
    ]
    n = Notification("d-1", "slow-watchers", "teachers", tuple(alerts), group="group:[4]")
    text, blocks = slack_message(n)
    assert blocks[0]["text"]["text"] == "Physics 11: 3 students"
    assert readable(blocks[1]["elements"][0]["text"]) == "Rule slow-watchers · grouped by course"
    assert text.startswith("[slow-watchers] Physics 11: 3 students\n")
    # Without a group (quiet hours released them together), the rule and the count.
    _, plain = slack_message(Notification("d-2", "slow-watchers", "teachers", tuple(alerts)))
    assert plain[0]["text"]["text"] == "slow-watchers: 3 alerts"
    assert plain[1]["type"] == "section"
