"""The two Slack Web API calls a click needs: `chat.update` (redraw the alert) and
`chat.postEphemeral` (a line to the one user who clicked), with the bot token at
SLACK_API_URL, through the same WebClient set-up and error classification as the
Slack channel (`notifier.channels.slack`).

A 429 (or `ratelimited`) is waited out as Slack's Retry-After says and tried again, a
few times; the wait is shared (a `SlackPacer` keyed by workspace: `chat.update` is
rate limited per app, not per channel), so a burst of clicks backs off together
instead of each hitting the limit again. The waits end early when the process stops.
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from notifier.channels.base import Outcome
from notifier.channels.slack import SlackPacer, classify_api_error, web_client
from notifier.events import JSONValue
from notifier.settings import Settings

log = logging.getLogger(__name__)

TRIES = 4  # a call, then up to three more after a 429 or a transient error
MAX_WAIT = 30.0  # seconds one wait may last, whatever Retry-After says
FIRST_BACKOFF = 0.5  # seconds before a retry Slack gave no Retry-After for


class SlackWeb:
    """`update` and `ephemeral`, each returning the final Outcome (sent, or why not)."""

    def __init__(
        self,
        settings: Settings,
        *,
        stop: threading.Event | None = None,
        pacer: SlackPacer | None = None,
        client_factory: Callable[[], WebClient] | None = None,
    ):
        self.settings = settings
        self.stop = stop or threading.Event()
        # Interval 0: no spacing between calls, only the waits Slack asks for (defer).
        self.pacer = pacer or SlackPacer(interval=0.0, sleep=self._wait)
        self._factory = client_factory or (lambda: web_client(settings))
        self._client: WebClient | None = None
        self._lock = threading.Lock()

    def _wait(self, seconds: float) -> None:
        self.stop.wait(seconds)

    @property
    def _key(self) -> str:
        return f"actions|{self.settings.slack_api_url}"

    def _web(self) -> WebClient:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, JSONValue]]
    ) -> Outcome:
        return self._call(
            "chat.update",
            lambda web: web.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
        )

    def ephemeral(self, channel: str, user: str, text: str) -> Outcome:
        return self._call(
            "chat.postEphemeral",
            lambda web: web.chat_postEphemeral(channel=channel, user=user, text=text),
        )

    def _call(self, method: str, call: Callable[[WebClient], object]) -> Outcome:
        outcome = Outcome.final(f"{method}: not tried")
        for attempt in range(TRIES):
            with self.pacer.turn(self._key):
                outcome = self._once(call)
            if outcome.ok or not outcome.retryable or self.stop.is_set():
                break
            wait = outcome.retry_after
            wait = min(MAX_WAIT, wait if wait is not None else FIRST_BACKOFF * 2**attempt)
            self.pacer.defer(self._key, wait)
            log.info("Slack %s: %s; trying again in %.1f s", method, outcome.reason, wait)
        if not outcome.ok:
            log.warning("Slack %s failed: %s", method, outcome.reason)
        return outcome

    def _once(self, call: Callable[[WebClient], object]) -> Outcome:
        try:
            call(self._web())
        except SlackApiError as exc:
            return classify_api_error(exc)
        except SlackClientError as exc:
            return Outcome.final(f"slack: {type(exc).__name__}")
        except TimeoutError:
            return Outcome.retry("slack: timeout")
        except (OSError, http.client.HTTPException) as exc:
            return Outcome.retry(f"slack: connection failed ({type(exc).__name__})")
        return Outcome.sent()


__all__ = ["SlackWeb"]
