"""A grouped Slack message's buttons act on the whole message (issue 19 part 1): the
real notifier in process (the actions service and the mute stage on the state store,
both backends), its Socket Mode client against the fake Slack's websocket. An admin's
*Mute student* on a group mutes every student it names, and their next alerts are
held as `muted`; a mute that runs out by the injected clock shows no longer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.sandbox.standins import SlackPost, channel_id
from tests.inprocess import Rig, rig
from tests.slack_kit import APP_TOKEN
from tests.waiting import wait_until

ADMIN = "UADMIN1"
GROUPED = """
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    group_by: [exam_id]
    group_wait: 30s
    notify: [slack]
"""


def _fail_all(r: Rig, title: str, users: list[Any]) -> None:
    inst = r.sandbox.institute
    exam = inst.add_exam(title=title)
    at = datetime.fromtimestamp(r.clock(), UTC)
    for user in users:
        attempt = inst.start_attempt(exam, user)
        inst.complete_attempt(attempt, result="Fail", score=1.0, completed_at=at)


def _status(message: SlackPost) -> list[str]:
    return [
        e["text"]
        for b in message.blocks or []
        if b.get("block_id") == "notifier.status"
        for e in b["elements"]
    ]


def test_mute_student_on_a_grouped_message_mutes_every_student_it_names(
    tmp_path: Path, db: str
) -> None:
    settings = {"SLACK_APP_TOKEN": APP_TOKEN, "NOTIFIER_SLACK_ADMINS": ADMIN}
    with rig(tmp_path, GROUPED, db=db, NOTIFIER_TIMEZONE="UTC", **settings) as r:
        slack = r.slack
        wait_until(lambda: slack.socket.connected, message="Socket Mode")
        r.cycle()
        inst = r.sandbox.institute
        users = [inst.add_user(name=n) for n in ("Asha Verma", "Ravi Kumar")]
        _fail_all(r, "Physics", users)
        r.cycle()
        r.clock.advance(31)  # the group's window closes
        r.cycle()
        [post] = slack.received
        assert [b.get("block_id") for b in post.blocks or []][-1] == "notifier.actions"

        click = slack.api.click(post, "notifier.mute_student", ADMIN, option="1d")
        slack.socket.send_envelope(click)
        wait_until(lambda: slack.api.updates, message="the mute's redraw")
        now = slack.api.message(channel_id("#exam-alerts"), post.ts or "")
        lines = sorted(_status(now))
        assert len(lines) == 2
        assert re.fullmatch(
            rf"Muted student Asha Verma by <@{ADMIN}> until \d\d \w+ \d\d:\d\d", lines[0]
        )
        assert lines[1].startswith("Muted student Ravi Kumar by ")

        # Both students' next failures are held, not posted.
        _fail_all(r, "Chemistry", users)
        r.cycle()
        r.clock.advance(31)
        r.cycle()
        assert len(slack.received) == 1
        assert r.store.outbox.delivery_counts()["muted"] == 2

        # A day later the mutes have run out: a redraw (a follow-up) shows none.
        r.clock.advance(24 * 3600)
        slack.socket.send_envelope(slack.api.click(now, "notifier.follow_up", "U1"))
        wait_until(lambda: len(slack.api.updates) == 2, message="the follow-up's redraw")
        later = slack.api.message(channel_id("#exam-alerts"), post.ts or "")
        [line] = _status(later)
        assert line.startswith("Followed up by <@U1> at ")


def test_muting_one_students_alert_of_a_grouped_message_mutes_that_student_only(
    tmp_path: Path, db: str
) -> None:
    """The console's *Mute the student* on one alert acts on that alert's row. Before:
    the row's message was looked up by its Slack message ref, and every student of the
    grouped Slack message was muted (Ravi, muted for a month by a click on Asha's
    page). Now only the row's own student is; a click on the message's own buttons
    (the group message's id) still mutes every student it names."""
    with rig(tmp_path, GROUPED, db=db, NOTIFIER_TIMEZONE="UTC") as r:
        assert r.actions is not None
        r.cycle()
        inst = r.sandbox.institute
        asha, ravi = (inst.add_user(name=n) for n in ("Asha Verma", "Ravi Kumar"))
        _fail_all(r, "Physics", [asha, ravi])
        r.cycle()
        r.clock.advance(31)  # the group's window closes
        r.cycle()
        assert len(r.slack.received) == 1
        rows = r.store.log.delivery_list()
        [asha_row] = [row["id"] for row in rows if "Asha" in row["alerts"]]
        made = r.actions.mute_delivery(
            asha_row,
            what="student",
            duration=timedelta(days=30),
            by="ed",
            reason="",
            source="console",
        )
        assert [m.student for m in made] == [str(asha)]
        assert [m.student for m in r.actions.mutes()] == [str(asha)]


def test_a_follow_up_of_a_grouped_message_holds_for_each_of_its_alerts(
    tmp_path: Path, db: str
) -> None:
    """Slack's *Follow up* names the group message; the console's names one alert of it.
    Before: each was kept under its own id, so an alert followed up in Slack still
    offered *Follow up* in the console, and a second follow-up was made (a second
    `alert.followed_up`). Now both are the message's one follow-up: the first wins."""
    buttons_on = {"SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5"}
    with rig(tmp_path, GROUPED, db=db, NOTIFIER_TIMEZONE="UTC", **buttons_on) as r:
        assert r.actions is not None
        r.cycle()
        inst = r.sandbox.institute
        asha, ravi = (inst.add_user(name=n) for n in ("Asha Verma", "Ravi Kumar"))
        _fail_all(r, "Physics", [asha, ravi])
        r.cycle()
        r.clock.advance(31)  # the group's window closes
        r.cycle()
        [post] = r.slack.received
        [buttons] = [b for b in post.blocks or [] if b.get("block_id") == "notifier.actions"]
        message = next(e["value"] for e in buttons["elements"] if "value" in e)
        [asha_row] = [row["id"] for row in r.store.log.delivery_list() if "Asha" in row["alerts"]]
        assert r.actions.follow_up(message, by="U1", by_name="asha.t", source="slack").first
        assert r.actions.delivery(asha_row).followed_up is not None
        again = r.actions.follow_up(asha_row, by="ed", by_name="ed", source="console")
        assert not again.first and again.by == "U1"
