"""The one handler of clicks on Slack alerts (contract section 13), whichever way they
arrive: Socket Mode (`notifier.runtime.slack_socket`) and the Request URL
(`notifier.web.slack_actions`) both acknowledge Slack first and then `submit` the
payload here; the work runs on this handler's own threads.

A click is read (`slack_payload.parse_click`: an odd payload is refused and logged
without its content), checked (only NOTIFIER_SLACK_ADMINS may mute or unmute; others
get an ephemeral refusal), done through the actions service (idempotent: Slack may
send the same click twice, and a repeat seen here is dropped before it reaches the
service), and then the message is redrawn with `chat.update` from what the store says
now. The first follow-up wins; a later one gets an ephemeral "already followed up by".
Clicks on one message are handled one at a time, so two redraws never cross.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, tzinfo
from typing import Any

from notifier.actions.slack_payload import Click, PayloadRefused, parse_click
from notifier.actions.slack_protocols import ActionsApi, DeliveryView
from notifier.actions.slack_redraw import applies, clock_time, redrawn, who
from notifier.actions.slack_web import SlackWeb
from notifier.channels.base import MessageRef

log = logging.getLogger(__name__)

WORKERS = 4
REMEMBERED = 2000  # recent clicks kept to recognise a repeat
LOCKS = 64  # messages handled one at a time (striped by channel and ts)
ADMINS_ONLY = "Only the notifier's Slack admins (NOTIFIER_SLACK_ADMINS) may mute or unmute alerts."
UNKNOWN = "This alert is no longer in the notifier's records: nothing was changed."
NO_STUDENT = "This alert names no student: there is no one to mute (mute the rule instead)."
NOT_RECORDED = (
    "The notifier could not record this click just now (its store did not answer): "
    "nothing was changed. Please click again in a moment."
)
Now = Callable[[], datetime]


class SlackClicks:
    """`submit(payload)` from the ways in; `handle(payload)` does one click now."""

    def __init__(
        self,
        actions: ActionsApi,
        web: SlackWeb,
        *,
        admins: frozenset[str],
        zone: tzinfo,
        now: Now = lambda: datetime.now(UTC),
        workers: int = WORKERS,
    ):
        self.actions = actions
        self.web = web
        self.admins = admins
        self.zone = zone
        self.now = now
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="slack-click")
        self._seen: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._locks = [threading.Lock() for _ in range(LOCKS)]
        self._closed = False

    def submit(self, payload: Any) -> None:
        """Do the click later, on a worker: the caller has answered Slack already."""
        if self._closed:
            log.warning("a Slack click arrived while stopping: not handled")
            return
        self._pool.submit(self._safely, payload)

    def close(self) -> None:
        """Finish the clicks in hand, take no more."""
        self._closed = True
        self._pool.shutdown(wait=True)

    def _safely(self, payload: Any) -> None:
        try:
            self.handle(payload)
        except Exception as exc:  # noqa: BLE001 - one click's failure is logged, not fatal
            log.error("a Slack click failed: %s", type(exc).__name__)

    def handle(self, payload: Any) -> None:
        try:
            click = parse_click(payload)
        except PayloadRefused as exc:
            log.warning("refused a Slack action payload: %s", exc)
            return
        if self._repeat(click):
            log.debug(
                "a repeated Slack click (%s on %s): nothing to do", click.kind, click.delivery
            )
            return
        if click.is_mute and click.user not in self.admins:
            self._tell(click, ADMINS_ONLY)
            return
        key = f"{click.channel}|{click.message_ts or click.delivery}"
        try:
            with self._locks[hash(key) % LOCKS]:
                self._do(click)
        except Exception:
            # Not done (a store outage, most likely): forget the click, so Slack's resend
            # of it is done rather than dropped as a repeat, and say so to whoever clicked.
            self._forget(click)
            with contextlib.suppress(Exception):
                self._tell(click, NOT_RECORDED)
            raise

    def _repeat(self, click: Click) -> bool:
        """Seen this very click (user, button, value, Slack's action_ts) before."""
        if click.action_ts is None:
            return False
        key = self._key(click)
        with self._seen_lock:
            if key in self._seen:
                return True
            self._seen[key] = None
            while len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
        return False

    def _forget(self, click: Click) -> None:
        with self._seen_lock:
            self._seen.pop(self._key(click), None)

    @staticmethod
    def _key(click: Click) -> tuple[str, ...]:
        return (
            click.user,
            click.kind,
            click.delivery,
            click.duration_text or "",
            str(click.action_ts),
        )

    def _do(self, click: Click) -> None:
        try:
            if click.kind == "follow_up":
                done = self.actions.follow_up(
                    click.delivery, by=click.user, by_name=click.user_name, source="slack"
                )
                if not done.first and done.by != click.user:
                    when = clock_time(done.at, self.zone)
                    self._tell(
                        click, f"Already followed up by {who(done.by, done.by_name)} at {when}."
                    )
                if not done.first:
                    return  # the first click's handler redraws the message
            elif click.kind == "unmute":
                self._unmute(click)
            else:
                made = self.actions.mute_delivery(
                    click.delivery,
                    what="student" if click.kind == "mute_student" else "rule",
                    duration=click.duration,  # type: ignore[arg-type]  # parse_click sets it
                    by=click.user,
                    reason=f"muted from Slack by {click.user_name}",
                    source="slack",
                )
                if not made:
                    self._tell(click, NO_STUDENT)
                    return
            self._redraw(click, self.actions.delivery(click.delivery))
        except LookupError:
            self._tell(click, UNKNOWN)
        except ValueError as exc:  # the service's own words: what it will not do
            self._tell(click, f"Nothing was changed: {str(exc)[:200]}.")

    def _unmute(self, click: Click) -> None:
        """Lift every mute that holds this message now (what its status line shows)."""
        facts = self.actions.delivery(click.delivery)
        now = self.now()
        for mute in self.actions.mutes(include_ended_days=0):
            if applies(mute, facts, now):
                with contextlib.suppress(LookupError):  # lifted by someone else meanwhile
                    self.actions.unmute(mute.id, by=click.user, source="slack")

    def _redraw(self, click: Click, facts: DeliveryView) -> None:
        channel, ts = click.channel, click.message_ts
        if (channel is None or ts is None) and facts.message_ref:
            ref = MessageRef.from_json(facts.message_ref)
            channel, ts = ref.channel, ref.id
        if channel is None or ts is None or click.message_blocks is None:
            log.warning(
                "cannot redraw the Slack message of %s: no channel, ts or blocks", click.delivery
            )
            return
        blocks = redrawn(
            click.message_blocks,
            click.delivery,
            facts,
            self.actions.mutes(include_ended_days=0),
            zone=self.zone,
            now=self.now(),
        )
        self.web.update(channel, ts, click.message_text or "alert", blocks)

    def _tell(self, click: Click, text: str) -> None:
        if click.channel is None:
            log.info("cannot tell %s (no channel in the payload): %s", click.user, text)
            return
        self.web.ephemeral(click.channel, click.user, text)


__all__ = ["SlackClicks"]
