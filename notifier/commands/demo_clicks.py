"""The demo's clicks in Slack (issue 19 part 6): the sandbox plays a teacher and an
admin clicking alerts in the fake Slack, over its Socket Mode websocket as Slack
delivers clicks, so `make demo` shows an action happen rather than describing one.

A teacher follows up Asha's "failed 3 exams" alert; an admin mutes Ravi for 7 days
from his "score dropped" alert; then Ravi drops again and that alert is held as
`muted`, not posted. The story's own alerts are used (not the sandbox's random
activity) so every run shows the same scene. Everything waits on what happened (a
post, a redraw, a held row), never on a fixed time, and gives up when the demo stops.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TypeVar

from notifier.actions.models import Mute
from notifier.actions.service import Actions, UnknownDelivery
from notifier.channels.slack_buttons import (
    ACTIONS_BLOCK,
    FOLLOW_UP,
    MUTE_STUDENT,
    STATUS_BLOCK,
)
from notifier.sandbox.histories import Stories
from notifier.sandbox.standins import FakeSlack, SlackPost, channel_id
from notifier.state.packed import with_alerts_text
from notifier.state.rows import Row

TEACHER = "U0DEMOTEACH"  # a teacher in #exam-alerts
ADMIN = "U0DEMOADMIN"  # in NOTIFIER_SLACK_ADMINS: may mute
APP_TOKEN = "xapp-1-A0DEMO-demo-token"  # the fake Slack's Socket Mode answers any xapp-
FOLLOWED_RULE = "failing-repeatedly"  # Asha's third fail
MUTED_RULE = "score-dropped"  # Ravi's drop

T = TypeVar("T")


@dataclass
class ClickScene:
    """What the clicks did, for the summary: each field is set once it happened."""

    followed_post: str | None = None  # the first line of the message followed up
    followed: str | None = None  # its status line after the redraw
    muted_post: str | None = None
    muted: str | None = None
    mutes: list[Mute] = field(default_factory=list)  # the mutes in force, from the store
    held: Row | None = None  # the muted student's next alert, held (outbox row)


def _delivery_of(post: SlackPost) -> str | None:
    """The delivery id the post's Follow up button carries (None: no buttons)."""
    for block in post.blocks or []:
        if block.get("block_id") == ACTIONS_BLOCK:
            for element in block.get("elements", []):
                if element.get("action_id") == FOLLOW_UP:
                    return str(element["value"])
    return None


def _status(slack: FakeSlack, post: SlackPost) -> str:
    """The message's status line as it reads now (empty: nobody acted on it)."""
    now = slack.api.message(channel_id(post.channel or ""), post.ts or "")
    return "\n".join(
        str(e.get("text", ""))
        for b in (now.blocks if now is not None else None) or []
        if b.get("block_id") == STATUS_BLOCK
        for e in b.get("elements", [])
    )


class _Scene:
    def __init__(self, slack: FakeSlack, actions: Actions, db: Path, stop: threading.Event) -> None:
        self.slack, self.actions, self.db, self.stop = slack, actions, db, stop

    def wait(self, found: Callable[[], T]) -> T | None:
        """`found()` once it is truthy; None when the demo stops first."""
        while not self.stop.is_set():
            value = found()
            if value:
                return value
            self.stop.wait(0.2)
        return None

    def post_of(self, rule: str) -> SlackPost | None:
        post: SlackPost  # what the fake Slack received: its posts
        for post in self.slack.received:
            delivery = _delivery_of(post)
            try:
                if delivery and self.actions.delivery(delivery).rule == rule:
                    return post
            except UnknownDelivery:
                continue
        return None

    def held_for(self, student: str) -> Row | None:
        """The student's delivery held as muted, read from the demo's SQLite file (the
        store's own connection belongs to the loop's thread)."""
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
                conn.row_factory = sqlite3.Row
                rows = conn.execute("SELECT * FROM outbox WHERE status = 'muted'").fetchall()
        except sqlite3.Error:
            return None
        for row in rows:  # the same rule's alert, the one a teacher would have had
            if row["rule"] == MUTED_RULE and student in self.actions.delivery(row["id"]).students:
                return with_alerts_text(dict(row))  # read from the file: alerts still packed
        return None


def play_clicks(
    scene: ClickScene,
    slack: FakeSlack,
    actions: Actions,
    db: Path,
    stories: Stories,
    stop: threading.Event,
) -> None:
    """Play the scene (on a thread of its own; `stop` ends it early), filling `scene`
    with what happened as it happens."""
    s = _Scene(slack, actions, db, stop)
    asha = s.wait(lambda: s.post_of(FOLLOWED_RULE))
    ravi = s.wait(lambda: s.post_of(MUTED_RULE))
    if asha is None or ravi is None or not s.wait(lambda: slack.socket.connected):
        return
    scene.followed_post = (asha.text or "").splitlines()[0]
    slack.socket.send_envelope(slack.api.click(asha, FOLLOW_UP, TEACHER, name="teacher"))
    scene.followed = s.wait(lambda: _status(slack, asha))
    scene.muted_post = (ravi.text or "").splitlines()[0]
    click = slack.api.click(ravi, MUTE_STUDENT, ADMIN, option="7d", name="admin")
    slack.socket.send_envelope(click)
    scene.muted = s.wait(lambda: _status(slack, ravi))
    scene.mutes = [m for m in actions.mutes() if m.ended_at is None]
    if scene.muted is None:
        return
    stories.ravi_scores(3, datetime.now(UTC), 25.0)  # 25 points down again: an alert
    scene.held = s.wait(lambda: s.held_for(str(stories.ravi)))


def print_clicks(scene: ClickScene, describe: Callable[[Row], str], zone: tzinfo) -> None:
    """The scene as a reader follows it; `describe` says what a held row's alert reads;
    times in `zone` (NOTIFIER_TIMEZONE, as the Slack messages show them)."""
    print("\n=== clicks in Slack (the sandbox plays a teacher and an admin) ===")
    if scene.followed is None:
        print("follow-up: no click yet (the demo stopped first)")
        return
    print(f"<@{TEACHER}> clicked Follow up on: {scene.followed_post}")
    print(f"  the message now reads: {scene.followed}")
    if scene.muted is None:
        print("mute: no click yet (the demo stopped first)")
        return
    print(f"<@{ADMIN}> picked Mute student, 7 days, on: {scene.muted_post}")
    print(f"  the message now reads: {scene.muted.splitlines()[-1]}")
    for mute in scene.mutes:
        until = mute.until.astimezone(zone).isoformat(timespec="minutes")
        print(f"  the mute, as `notifier mutes` lists it: {mute.id} by {mute.by} until {until}")
    if scene.held is None:
        print("the muted student's next alert: not yet (the demo stopped first)")
        return
    print(f"the muted student's next alert, held as {scene.held['status']} (not posted):")
    print(f"  {scene.held['id']}: {describe(scene.held)}")
