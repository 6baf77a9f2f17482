"""A follow-up or a mute made in the console shows in Slack as a click there would: the
alert's Slack message is redrawn with `chat.update` ("Followed up by ann at 10:42" in
place of the button, then who muted the student until when), the console link kept.
Over the real composition (console, actions service, fake Slack's Web API); without
a way in for clicks nothing is redrawn."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.console.passwords import hash_password
from notifier.sandbox.standins import channel_id
from tests.console_kit import PASSWORD, csrf_of, sign_in
from tests.inprocess import Rig, rig
from tests.slack_kit import SIGNING_SECRET, action_ids, status_text
from tests.waiting import wait_until

RULES = """
rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [slack]
"""
CONSOLE = "http://notifier.school.example"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Rig]:
    with rig(
        tmp_path,
        RULES,
        NOTIFIER_CONSOLE_ADDR="127.0.0.1:0",
        NOTIFIER_CONSOLE_URL=CONSOLE,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,  # a way in for clicks: alerts carry buttons
        NOTIFIER_TIMEZONE="UTC",
    ) as r:
        assert r.cycle().sources_ok
        r.store.users.add("ann", "editor", hash_password(PASSWORD), r.clock())
        inst = r.sandbox.institute
        asha = inst.add_user(name="Asha Verma", email="asha@school.example")
        exam = inst.add_exam(title="Algebra")
        inst.complete_attempt(inst.start_attempt(exam, asha), result="Fail")
        r.cycle()
        yield r


def test_a_console_follow_up_and_mute_redraw_the_slack_message(running: Rig) -> None:
    slack = running.slack
    [post] = slack.received
    delivery = post.blocks[-1]["elements"][0]["value"]  # type: ignore[index]

    def now_reads() -> Any:
        return slack.api.message(channel_id(post.channel or ""), post.ts or "")

    assert running.console_url
    with httpx.Client(base_url=running.console_url, timeout=10) as ann:
        assert sign_in(ann, "ann", PASSWORD).status_code == 303
        page = f"/alerts/{delivery}"
        token = csrf_of(ann.get(page).text)
        assert ann.post(page, data={"csrf": token, "action": "follow_up"}).status_code == 303
        wait_until(lambda: slack.api.updates, message="the follow-up's chat.update")
        assert re.fullmatch(r"Followed up by ann at \d\d:\d\d", status_text(now_reads().blocks))
        assert action_ids(now_reads().blocks) == ["notifier.mute_student", "notifier.mute_rule"]
        link = f"<{CONSOLE}/alerts/{delivery}|Open in the console>"
        assert link in str(now_reads().blocks)
        # Following up again changes nothing: no second redraw.
        assert ann.post(page, data={"csrf": token, "action": "follow_up"}).status_code == 303
        mute = {"csrf": token, "action": "mute_student", "for": "7d"}
        assert ann.post(page, data=mute).status_code == 303
        wait_until(lambda: len(slack.api.updates) == 2, message="the mute's chat.update")
        status = status_text(now_reads().blocks)
        assert "Followed up by ann at " in status
        assert "Muted student Asha Verma by ann until " in status
        assert action_ids(now_reads().blocks) == ["notifier.unmute"]
        assert link in str(now_reads().blocks)
    assert len(slack.received) == 1  # redrawn in place, nothing posted
