"""Acting on alerts from Slack, end to end (issue 19, parts 1, 2 and 6): the real
`notifier run` process with SLACK_APP_TOKEN and SLACK_SIGNING_SECRET against the
sandbox institute and the fake Slack (its Web API and its Socket Mode websocket), over
loopback. A teacher's follow-up, a repeated envelope, a later click, a non-admin's
mute, an admin's mute that holds the student's next alert as `muted`, the Request URL
(signed, forged, stale), a clean stop on SIGTERM; and no buttons without either
setting."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.sandbox.standins import SlackPost, channel_id, free_port
from tests.e2e import Harness, open_harness
from tests.loopback import ready
from tests.slack_kit import APP_TOKEN, SIGNING_SECRET, action_ids, signed_post, status_text
from tests.waiting import wait_until

ADMIN = "UADMIN1"
CONSOLE = "https://notifier.school.example"
RULES = """\
channels:
  teachers:
    type: slack
    channel: "#exam-alerts"

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [teachers]
"""


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with open_harness(tmp_path, seed=19, rules=RULES) as harness:
        yield harness


def _link(blocks: list[dict[str, Any]] | None) -> str | None:
    """The address of the message's "Open in the console" link (None: no link)."""
    for block in blocks or []:
        for element in block.get("elements", []) if block.get("type") == "context" else []:
            text = str(element.get("text", ""))
            if text.endswith("|Open in the console>"):
                return text[1:].removesuffix("|Open in the console>")
    return None


def _fail(h: Harness, exam: Any, user: Any) -> None:
    now = datetime.now(UTC)
    inst = h.sandbox.institute
    attempt = inst.start_attempt(exam, user, started_at=now - timedelta(minutes=20))
    inst.complete_attempt(attempt, result="Fail", completed_at=now)


def _muted(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = re.search(r'^notifier_outbox_rows\{status="muted"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_clicks_from_slack_follow_up_and_mute_in_a_running_notifier(h: Harness) -> None:
    inst = h.sandbox.institute
    exam = inst.add_exam(title="Algebra Mock")
    asha = inst.add_user(name="Asha Verma", email="asha@school.example")
    port = free_port()
    h.extra_env = {
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "NOTIFIER_SLACK_ADMINS": ADMIN,
        "NOTIFIER_HTTP_ADDR": f"127.0.0.1:{port}",
        "NOTIFIER_POLL_INTERVAL": "0.3",
        "NOTIFIER_TIMEZONE": "UTC",
        "NOTIFIER_CONSOLE_URL": CONSOLE,
    }
    proc = h.start()
    slack = h.slack
    try:
        wait_until(
            lambda: proc.poll() is not None or slack.socket.connected,
            message="notifier run to connect over Socket Mode",
        )
        assert proc.poll() is None, proc.communicate()[1]
        wait_until(lambda: ready(port), message="the first cycle")
        _fail(h, exam, asha)
        wait_until(lambda: slack.received, message="the alert")
        [post] = slack.received
        assert action_ids(post.blocks) == [
            "notifier.follow_up",
            "notifier.mute_student",
            "notifier.mute_rule",
        ]

        def now_reads() -> SlackPost:
            message = slack.api.message(channel_id("#exam-alerts"), post.ts or "")
            assert message is not None
            return message

        delivery = post.blocks[-1]["elements"][0]["value"]  # the Follow up button's
        # A teacher follows up: acked, then the message says so in place of the button.
        first = slack.api.click(post, "notifier.follow_up", "U1")
        later = slack.api.click(post, "notifier.follow_up", "U2")
        envelope = slack.socket.send_envelope(first)
        wait_until(lambda: envelope in slack.socket.acks, message="the ack")
        wait_until(lambda: slack.api.updates, message="chat.update")
        assert re.fullmatch(r"Followed up by <@U1> at \d\d:\d\d", status_text(now_reads().blocks))
        assert "notifier.follow_up" not in action_ids(now_reads().blocks)
        assert _link(now_reads().blocks) == _link(post.blocks) == f"{CONSOLE}/alerts/{delivery}"
        # Slack delivers the same envelope again: nothing changes.
        slack.socket.send_envelope(first, envelope_id=envelope)
        # A colleague's click, sent before the message changed, is told who was first.
        slack.socket.send_envelope(later)
        wait_until(lambda: slack.api.ephemerals, message="the ephemeral")
        [told] = slack.api.ephemerals
        assert told.user == "U2"
        assert re.fullmatch(r"Already followed up by <@U1> at \d\d:\d\d\.", told.text or "")

        # A teacher may not mute; an admin may.
        slack.socket.send_envelope(
            slack.api.click(post, "notifier.mute_student", "U2", option="7d")
        )
        wait_until(lambda: len(slack.api.ephemerals) == 2, message="the refusal")
        assert "Only the notifier's Slack admins" in (slack.api.ephemerals[1].text or "")
        assert len(slack.api.updates) == 1
        slack.socket.send_envelope(
            slack.api.click(now_reads(), "notifier.mute_student", ADMIN, option="7d")
        )
        wait_until(lambda: len(slack.api.updates) == 2, message="the mute's redraw")
        status = status_text(now_reads().blocks)
        assert f"Muted student Asha Verma by <@{ADMIN}> until " in status
        assert "Followed up by <@U1>" in status
        assert action_ids(now_reads().blocks) == ["notifier.unmute"]
        assert _link(now_reads().blocks) == f"{CONSOLE}/alerts/{delivery}"  # kept by each redraw
        mutes = json.loads(h.notifier("mutes", "--json").stdout)
        assert [m["by"] for m in mutes if m["ended_at"] is None] == [ADMIN]

        # Asha's next failure is held as muted, not posted.
        _fail(h, exam, asha)
        wait_until(lambda: _muted(port) == 1, message="the next alert held as muted")
        assert len(slack.received) == 1

        # The Request URL: forged and stale requests change nothing; a signed one works.
        url = f"http://127.0.0.1:{port}/slack/actions"
        unmute = slack.api.click(now_reads(), "notifier.unmute", ADMIN)
        assert signed_post(url, unmute, secret="forged").status_code == 401
        assert signed_post(url, unmute, at=time.time() - 6 * 60).status_code == 401
        assert len(slack.api.updates) == 2
        still = json.loads(h.notifier("mutes", "--json").stdout)
        assert [m["ended_at"] for m in still] == [None]
        assert signed_post(url, unmute).status_code == 200
        wait_until(lambda: len(slack.api.updates) == 3, message="the unmute's redraw")
        assert action_ids(now_reads().blocks) == ["notifier.mute_student", "notifier.mute_rule"]
        lifted = json.loads(h.notifier("mutes", "--json").stdout)
        assert [m["ended_at"] is not None for m in lifted] == [True]

        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        wait_until(lambda: slack.socket.connected == 0, message="the socket closed")
        for secret in (APP_TOKEN, SIGNING_SECRET):
            assert secret not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_without_a_way_in_slack_alerts_carry_no_buttons(h: Harness) -> None:
    inst = h.sandbox.institute
    exam = inst.add_exam(title="Physics")
    ravi = inst.add_user(name="Ravi Kumar", email="ravi@school.example")
    assert h.notifier("run", "--once").returncode == 0  # the baseline
    _fail(h, exam, ravi)
    out = h.notifier("run", "--once")
    assert out.returncode == 0, out.stderr
    [post] = h.slack.received
    assert post.blocks and action_ids(post.blocks) == []
    assert h.slack.api.connections_opened == 0
