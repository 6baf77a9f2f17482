"""The console's actions shown in Slack: with a way in for clicks set up (so alerts
carry buttons), a follow-up or mute made on an alert's page in the console redraws
that alert's Slack message as a click would (`notifier.actions.slack_mirror`). Here
the message is drawn again as the render stage drew it: the rules in force now (their
templates), the console link, the buttons."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from notifier.actions.service import Actions
from notifier.actions.slack_mirror import Render, SlackMirror
from notifier.actions.slack_web import SlackWeb
from notifier.channels.base import SlackMessage
from notifier.channels.slack_buttons import with_buttons
from notifier.delivery.render import render_message
from notifier.delivery.stages import to_notification
from notifier.rules.schema import RuleSet
from notifier.rules.templates import TemplateTable
from notifier.settings import Settings, slack_buttons
from notifier.state.actions_base import DeliveryRecord
from notifier.state.base import OutboxRow


def slack_render(rules: Callable[[], RuleSet], console_url: str | None) -> Render:
    """The Slack message of a delivery as it was sent (None when its channel is no
    longer a Slack channel of the rules in force)."""

    def render(record: DeliveryRecord) -> SlackMessage | None:
        ruleset = rules()
        channel = ruleset.channels.get(record.channel)
        if channel is None or channel.type != "slack":
            return None
        row = OutboxRow(  # the fields a message is drawn from; the event's are the alerts'
            record.id, record.rule, record.channel, "", "", record.alerts, record.status, 0, 0.0
        )
        template = TemplateTable.of(ruleset.rules).get(record.rule)
        message = render_message(SlackMessage, to_notification(row), template, console_url)
        return with_buttons(message, record.id) if isinstance(message, SlackMessage) else None

    return render


def wire_slack_mirror(
    settings: Settings,
    actions: Actions,
    rules: Callable[[], RuleSet],
    stack: ExitStack,
    stop: threading.Event,
    clock: Callable[[], float] = time.time,
) -> SlackMirror | None:
    """The mirror, listening to `actions` (None: alerts carry no buttons, so there is
    nothing to redraw); closed by `stack`."""
    if not slack_buttons(settings):
        return None
    mirror = SlackMirror(
        actions,
        SlackWeb(settings, stop=stop),
        slack_render(rules, settings.console_url),
        zone=ZoneInfo(settings.timezone),
        now=lambda: datetime.fromtimestamp(clock(), UTC),
    )
    actions.on_message_change(mirror.changed)
    stack.callback(mirror.close)
    return mirror


__all__ = ["slack_render", "wire_slack_mirror"]
