"""Clicks on Slack alerts (issue 19, parts 1 and 2), the Slack side over real loopback:
the notifier's Socket Mode client (slack_sdk's built-in one) against the fake Slack's
websocket, the Request URL on the real HTTP server, `chat.update` and
`chat.postEphemeral` against the fake Web API; the actions service is a small
in-memory one here (`tests/slack_kit.py`), the real one in tests/test_slack_actions_e2e.py.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from notifier.actions.slack_web import SlackWeb
from notifier.channels.base import SlackMessage
from notifier.channels.slack import SlackChannel, SlackConfig, SlackPacer
from notifier.channels.slack_buttons import actions_block
from notifier.runtime.slack_socket import wire_slack_actions
from notifier.sandbox.standins import FakeSlack, SlackPost, channel_id
from notifier.settings import Settings
from notifier.state.postgres_conn import StoreUnavailable
from notifier.web.http import HttpServer
from tests.slack_kit import APP_TOKEN, SIGNING_SECRET, Facts, MemoryActions, signed_post
from tests.waiting import wait_until

ID = "msg_0123456789abcdef0123456789ab"
ADMIN = "UADMIN1"


@dataclass
class Rig:
    slack: FakeSlack
    actions: MemoryActions
    post: SlackPost
    url: str  # the Request URL


def _settings(slack: FakeSlack, **extra: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-clicks",
        SLACK_API_URL=slack.url,
        NOTIFIER_SLACK_ADMINS=ADMIN,
        NOTIFIER_TIMEZONE="UTC",
        **extra,
    )


def _alert(slack: FakeSlack, settings: Settings) -> SlackPost:
    """An alert as the renderer posts it: a section and the buttons."""
    channel = SlackChannel(
        "teachers", SlackConfig(type="slack", channel="#exam-alerts"), settings,
        pacer=SlackPacer(interval=0),
    )  # fmt: skip
    blocks = [
        {"type": "section", "text": {"type": "plain_text", "text": "Asha Verma failed Algebra"}},
        actions_block(ID),
    ]
    assert channel.send(SlackMessage(ID, "[failed-exam] Asha Verma failed", blocks)).ok
    channel.close()
    [post] = slack.received
    return post


@pytest.fixture
def rig() -> Iterator[Rig]:
    with FakeSlack() as slack, ExitStack() as stack:
        settings = _settings(slack, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
        post = _alert(slack, settings)
        ref = f'{{"kind":"slack","id":"{post.ts}","channel":"{channel_id("#exam-alerts")}"}}'
        facts = Facts(ID, "failed-exam", "teachers", "sent", ("u7",), ("Asha Verma",), ref, None)
        actions = MemoryActions({ID: facts})
        server = HttpServer("127.0.0.1:0")
        stack.callback(server.close)
        stop = threading.Event()
        stack.callback(stop.set)
        assert wire_slack_actions(settings, actions, server, stack, stop) is not None
        server.start()
        wait_until(lambda: slack.socket.connected, message="the Socket Mode client to connect")
        yield Rig(slack, actions, post, server.url + "/slack/actions")


def _now_reads(rig: Rig) -> SlackPost:
    message = rig.slack.api.message(channel_id("#exam-alerts"), rig.post.ts or "")
    assert message is not None
    return message


def _texts(blocks: list[dict[str, Any]] | None) -> str:
    out = []
    for block in blocks or []:
        for element in block.get("elements", []):
            if isinstance(element.get("text"), str):
                out.append(element["text"])
    return "\n".join(out)


def _action_ids(blocks: list[dict[str, Any]] | None) -> list[str]:
    return [
        e["action_id"]
        for b in blocks or []
        if b.get("type") == "actions"
        for e in b.get("elements", [])
    ]


def test_the_buttons_are_valid_block_kit_and_carry_only_the_delivery_id() -> None:
    block = actions_block(ID)
    parsed = Block.parse(block)
    assert parsed is not None
    parsed.validate_json()  # raises SlackObjectFormationError when a limit is broken
    assert parsed.to_dict()["elements"][0]["action_id"] == "notifier.follow_up"
    values = [e.get("value") for e in block["elements"]] + [
        o["value"] for e in block["elements"] for o in e.get("options", [])
    ]
    assert {v for v in values if v} == {ID, f"{ID}|1d", f"{ID}|7d", f"{ID}|30d"}
    unmute = Block.parse(actions_block(ID, follow_up=False, mute=False, unmute=True))
    assert unmute is not None
    unmute.validate_json()


def test_a_follow_up_over_socket_mode_is_acked_and_shown_and_the_first_one_wins(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    slack = rig.slack
    first = slack.api.click(rig.post, "notifier.follow_up", "U1", name="asha.teacher")
    later = slack.api.click(rig.post, "notifier.follow_up", "U2")  # the button, still shown
    envelope = slack.socket.send_envelope(first)
    wait_until(lambda: envelope in slack.socket.acks, message="the envelope's ack")
    wait_until(lambda: slack.api.updates, message="chat.update")
    now = _now_reads(rig)
    assert re.search(r"Followed up by <@U1> at \d\d:\d\d", _texts(now.blocks))
    assert "notifier.follow_up" not in _action_ids(now.blocks)
    assert now.blocks and now.blocks[0]["text"]["text"] == "Asha Verma failed Algebra"
    assert now.text == rig.post.text

    slack.socket.send_envelope(later)
    wait_until(lambda: slack.api.ephemerals, message="the ephemeral to the later clicker")
    [told] = slack.api.ephemerals
    assert told.user == "U2" and told.channel == channel_id("#exam-alerts")
    assert re.fullmatch(r"Already followed up by <@U1> at \d\d:\d\d\.", told.text or "")
    assert len(slack.api.updates) == 1  # the message shows it already

    # Slack sends the first envelope again (its ack was lost): acked, and dropped as
    # a repeat before it reaches the service (the handler says so in its debug log).
    acks = len(slack.socket.acks)
    with caplog.at_level("DEBUG", logger="notifier.actions.slack_clicks"):
        slack.socket.send_envelope(first, envelope_id=envelope)
        wait_until(lambda: len(slack.socket.acks) > acks, message="the repeat's ack")
        wait_until(lambda: "a repeated Slack click" in caplog.text, message="the repeat dropped")
    assert rig.actions.calls == [("follow_up", "U1"), ("follow_up", "U2")]
    assert len(slack.api.updates) == 1 and len(slack.api.ephemerals) == 1


def test_only_admins_mute_and_an_admin_mute_shows_with_unmute(rig: Rig) -> None:
    slack = rig.slack
    slack.socket.send_envelope(
        slack.api.click(rig.post, "notifier.mute_student", "U2", option="7d")
    )
    wait_until(lambda: slack.api.ephemerals, message="the refusal")
    assert "Only the notifier's Slack admins" in (slack.api.ephemerals[0].text or "")
    assert rig.actions.active() == [] and slack.api.updates == []

    slack.socket.send_envelope(
        slack.api.click(rig.post, "notifier.mute_student", ADMIN, option="7d")
    )
    wait_until(lambda: slack.api.updates, message="the mute's redraw")
    [mute] = rig.actions.active()
    assert mute.student == "u7" and mute.by == ADMIN
    now = _now_reads(rig)
    until = mute.until.strftime("%d %b %H:%M")
    assert f"Muted student Asha Verma by <@{ADMIN}> until {until}" in _texts(now.blocks)
    assert _action_ids(now.blocks) == ["notifier.follow_up", "notifier.unmute"]

    slack.socket.send_envelope(slack.api.click(now, "notifier.unmute", ADMIN))
    wait_until(lambda: len(slack.api.updates) == 2, message="the unmute's redraw")
    assert rig.actions.active() == []
    restored = _now_reads(rig)
    assert "Muted" not in _texts(restored.blocks)
    assert _action_ids(restored.blocks) == [
        "notifier.follow_up",
        "notifier.mute_student",
        "notifier.mute_rule",
    ]


def test_the_request_url_takes_signed_clicks_only(rig: Rig) -> None:
    slack = rig.slack
    click = slack.api.click(rig.post, "notifier.mute_rule", ADMIN, option="1d")
    assert signed_post(rig.url, click, tamper=True).status_code == 401
    assert signed_post(rig.url, click, secret="not-the-secret").status_code == 401
    assert signed_post(rig.url, click, at=time.time() - 6 * 60).status_code == 401
    assert signed_post(rig.url, click, at=time.time() + 6 * 60).status_code == 401
    refused = {"Content-Type": "application/x-www-form-urlencoded"}
    import httpx

    assert httpx.post(rig.url, content=b"payload={}", headers=refused).status_code == 401
    assert rig.actions.calls == [] and slack.api.updates == [] and slack.api.ephemerals == []

    answer = signed_post(rig.url, click)
    assert answer.status_code == 200 and answer.content == b""
    wait_until(lambda: slack.api.updates, message="the signed click's redraw")
    [mute] = rig.actions.active()
    assert mute.rule == "failed-exam" and mute.student is None
    assert "Muted rule failed-exam" in _texts(_now_reads(rig).blocks)


def test_socket_mode_reconnects_after_slack_says_disconnect(rig: Rig) -> None:
    slack = rig.slack
    assert slack.api.connections_opened == 1
    # As Slack does, an envelope not acknowledged is sent again: slack_sdk may replace
    # the new connection once more (it reconnects on the close and on the message).
    slack.socket.resend_after = 0.5
    slack.socket.disconnect("refresh_requested")
    wait_until(
        lambda: slack.api.connections_opened >= 2 and slack.socket.connected == 1,
        message="a new connection through apps.connections.open",
    )
    slack.socket.send_envelope(slack.api.click(rig.post, "notifier.follow_up", "U3"))
    wait_until(lambda: slack.api.updates, message="a click on the new connection")


def test_socket_mode_stops_when_slack_disables_the_link(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    slack = rig.slack
    with caplog.at_level("ERROR", logger="notifier.runtime.slack_socket"):
        slack.socket.disconnect("link_disabled")
        wait_until(lambda: "link_disabled" in caplog.text, message="the error line")
    wait_until(lambda: slack.socket.connected == 0, message="the link closed")
    assert slack.api.connections_opened == 1  # not asked for a new link at once


def test_an_odd_payload_is_refused_and_logged_without_its_content(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    slack = rig.slack
    odd = slack.api.click(rig.post, "notifier.follow_up", "U1")
    odd["user"]["id"] = "<!channel>"
    odd["response_url"] = "https://hooks.slack.invalid/SECRET-RESPONSE-URL"
    with caplog.at_level("WARNING", logger="notifier.actions.slack_clicks"):
        assert signed_post(rig.url, odd).status_code == 200
        wait_until(lambda: "refused a Slack action payload" in caplog.text, message="the log")
    assert "user.id: Value error, not a Slack user id" in caplog.text
    assert "SECRET-RESPONSE-URL" not in caplog.text and "<!channel>" not in caplog.text
    assert rig.actions.calls == [] and slack.api.updates == []


def test_chat_update_waits_out_a_429_as_retry_after_says() -> None:
    waits: list[float] = []
    with FakeSlack() as slack:
        settings = _settings(slack)
        post = _alert(slack, settings)
        pacer = SlackPacer(interval=0.0, sleep=waits.append)
        web = SlackWeb(settings, pacer=pacer)
        slack.script([(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})])
        outcome = web.update(channel_id("#exam-alerts"), post.ts or "", "t", [])
        assert outcome.ok
        assert len(slack.api.updates) == 2  # the refused call and the one after the wait
        assert waits and 6.0 < waits[0] <= 7.0


@pytest.mark.parametrize("name", ["single", "grouped", "digest"])
def test_every_kind_of_slack_alert_carries_the_buttons_within_block_kit(name: str) -> None:
    from notifier.channels.base import Notification
    from notifier.channels.slack_buttons import status_block, with_buttons
    from notifier.delivery.render import render_message
    from tests.test_slack_docs import EXAMPLES

    n = EXAMPLES[name]
    big = Notification(n.id, n.rule, n.channel, n.alerts * 30, group=n.group)  # 60+ alerts
    for note in (n, big):
        plain = render_message(SlackMessage, note)
        assert isinstance(plain, SlackMessage)
        message = with_buttons(plain, ID)
        assert message.text == plain.text
        kept = min(len(plain.blocks), 47)  # a long group loses its tail to a "more" line
        assert message.blocks[: kept - 1] == plain.blocks[: kept - 1]
        assert message.blocks[-1] == actions_block(ID)
        # room for the status line a click adds, within Slack's 50 blocks
        assert len(message.blocks) + 1 <= 50
        for block in [*message.blocks, status_block(["Followed up by <@U1> at 10:42"])]:
            parsed = Block.parse(block)
            assert parsed is not None
            parsed.validate_json()


def _payload(**action: Any) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": "U1", "name": "asha"},
        "container": {"type": "message", "channel_id": "C1", "message_ts": "1.2"},
        "actions": [{"type": "button", "action_ts": "3.4", **action}],
    }


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "the payload is not a JSON object"),
        ({"type": "view_submission"}, "not a block_actions payload (type 'view_submission')"),
        ({**_payload(action_id="notifier.follow_up", value=ID), "actions": []}, "actions: "),
        (_payload(action_id="other.button", value=ID), "not one of ours ('other.button')"),
        (_payload(action_id="notifier.follow_up"), "actions.0: no value"),
        (_payload(action_id="notifier.follow_up", value="x y"), "not a delivery id"),
        (_payload(action_id="notifier.mute_rule", value=f"{ID}|30d"), "'30d' is not a duration"),
        (_payload(action_id="notifier.mute_student", value=ID), "a mute needs a duration"),
        (_payload(action_id="notifier.follow_up", value=f"{ID}|7d"), "'7d' is not a duration"),
    ],
)
def test_odd_payloads_are_refused_with_what_is_wrong_and_where(payload: Any, reason: str) -> None:
    from notifier.actions.slack_payload import PayloadRefused, parse_click

    with pytest.raises(PayloadRefused) as refused:
        parse_click(payload)
    assert reason in str(refused.value)


def test_a_good_payload_reads_as_a_typed_click() -> None:
    from datetime import timedelta

    from notifier.actions.slack_payload import parse_click

    option = {"value": f"{ID}|30d", "text": {"type": "plain_text", "text": "30 days"}}
    payload = _payload(action_id="notifier.mute_student", selected_option=option)
    payload["actions"][0]["type"] = "static_select"
    click = parse_click(payload)
    assert (click.kind, click.delivery, click.duration, click.user) == (
        "mute_student",
        ID,
        timedelta(days=30),
        "U1",
    )
    assert (click.channel, click.message_ts, click.message_blocks) == ("C1", "1.2", None)


def test_a_click_on_an_alert_the_store_no_longer_has_is_told_so(rig: Rig) -> None:
    click = rig.slack.api.click(rig.post, "notifier.follow_up", "U1")
    click["actions"][0]["value"] = "msg_gone"
    assert signed_post(rig.url, click).status_code == 200
    wait_until(lambda: rig.slack.api.ephemerals, message="the ephemeral")
    assert "no longer in the notifier's records" in (rig.slack.api.ephemerals[0].text or "")
    assert rig.slack.api.updates == []


def test_a_hostile_name_in_the_status_line_is_text_not_a_mention() -> None:
    from datetime import UTC, datetime, timedelta

    from notifier.actions.slack_redraw import mute_line, who
    from tests.slack_kit import Mute

    evil = "Eve <!channel> <@U9> *bold*"
    facts = Facts(ID, "r <!here>", "teachers", "sent", ("u7",), (evil,), None, None)
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    mute = Mute("m1", "u7", "r <!here>", None, now + timedelta(days=7), "U1", "", now)
    line = mute_line(mute, facts, UTC)
    assert line.startswith("Muted student Eve &lt;!channel&gt; &lt;@U9&gt; *\u200dbold*\u200d")
    assert "rule r &lt;!here&gt;" in line and line.endswith("by <@U1> until 14 Dec 10:00")
    assert "<!" not in line and "<@U9" not in line
    assert who("console-admin <!channel>") == "console-admin &lt;!channel&gt;"


def test_a_click_the_store_cannot_record_is_said_so_and_its_resend_is_done(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack = rig.slack
    recorded = rig.actions.follow_up
    outage = [True]

    def follow_up(delivery_id: str, **kw: Any) -> Any:
        if outage.pop() if outage else False:
            raise StoreUnavailable("the state store did not answer")
        return recorded(delivery_id, **kw)

    monkeypatch.setattr(rig.actions, "follow_up", follow_up)
    click = slack.api.click(rig.post, "notifier.follow_up", "U1")
    envelope = slack.socket.send_envelope(click)
    wait_until(lambda: slack.api.ephemerals, message="the ephemeral saying it was not done")
    [told] = slack.api.ephemerals
    assert told.user == "U1" and "could not record this click" in (told.text or "")
    assert slack.api.updates == []  # nothing shown as done

    # Slack's resend of the very same click (same action_ts) is done, not dropped.
    slack.socket.send_envelope(click, envelope_id=envelope)
    wait_until(lambda: slack.api.updates, message="chat.update after the resend")
    assert re.search(r"Followed up by <@U1> at \d\d:\d\d", _texts(_now_reads(rig).blocks))
    assert rig.actions.calls == [("follow_up", "U1")]
