"""An alert's Slack message redrawn after a follow-up or a mute made outside Slack (the
console's buttons on an alert's page, issue 20): the message then reads as it would
after the same click in Slack, "Followed up by ann at 10:42" in place of the button.

A click in Slack is redrawn by its own handler from the blocks Slack sends back with
it; here there is no click, so the message is drawn again from the outbox row (the
same renderer, templates and console link as when it was sent, passed in as
`render`) and then given the status line and buttons the store says now. Only a
message that is this delivery alone is redrawn (a grouped message carries its
group's id, which the console does not act on); the work is done on a thread of its
own, so the console's answer never waits for Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, tzinfo

from notifier.actions.slack_protocols import ActionsApi
from notifier.actions.slack_redraw import redrawn
from notifier.actions.slack_web import SlackWeb
from notifier.channels.base import MessageRef, SlackMessage
from notifier.state.actions_base import DeliveryRecord

log = logging.getLogger(__name__)

Render = Callable[[DeliveryRecord], SlackMessage | None]  # None: not a Slack alert now


class SlackMirror:
    """`changed(record)` after an action outside Slack; `close()` finishes the redraws."""

    def __init__(
        self,
        actions: ActionsApi,
        web: SlackWeb,
        render: Render,
        *,
        zone: tzinfo,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.actions, self.web, self.render = actions, web, render
        self.zone, self.now = zone, now
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="slack-mirror")
        self._closed = False

    def changed(self, record: DeliveryRecord) -> None:
        """The delivery's follow-up or mutes changed: redraw its Slack message, if it
        has one (its `message_ref` says where Slack keeps it)."""
        if self._closed or not record.message_ref:
            return
        ref = MessageRef.from_json(record.message_ref)
        if ref.kind == "slack" and ref.channel is not None:
            self._pool.submit(self._redraw, record, ref.channel, ref.id)

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)

    def _redraw(self, record: DeliveryRecord, channel: str, ts: str) -> None:
        try:
            message = self.render(record)
            if message is None:
                return
            blocks = redrawn(
                message.blocks,
                record.id,
                self.actions.delivery(record.id),
                self.actions.mutes(include_ended_days=0),
                zone=self.zone,
                now=self.now(),
            )
            self.web.update(channel, ts, message.text, blocks)
        except Exception:  # a worker's failure is logged, never lost with the future
            log.exception("cannot redraw the Slack message of %s", record.id)


__all__ = ["Render", "SlackMirror"]
