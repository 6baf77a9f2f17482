"""Clicks on Slack alerts, wired in: the click handler built once, Slack's Request URL
added to the HTTP server (SLACK_SIGNING_SECRET) and Socket Mode started
(SLACK_APP_TOKEN), both ending in the same handler (contract section 13).

Socket Mode uses slack_sdk's built-in client (`slack_sdk.socket_mode.SocketModeClient`,
no extra package): it asks `apps.connections.open` (with the app token) for a
websocket URL, answers Slack's pings, and reconnects with a fresh URL when the socket
drops or Slack sends `disconnect` (but for `link_disabled`: the app's Socket Mode is
off, and the client stops, saying so). Each `interactive` envelope is acknowledged on the
socket first (Slack resends one not acknowledged within 3 s) and then handed to the
click handler; other envelopes are acknowledged and ignored. Connecting is retried in
the background, so a Slack outage at start-up delays clicks, not the alerts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from notifier.actions.slack_clicks import SlackClicks
from notifier.actions.slack_protocols import ActionsApi
from notifier.actions.slack_web import SlackWeb
from notifier.channels.slack import web_client
from notifier.settings import Settings, slack_admin_ids, slack_buttons
from notifier.web.http import HttpServer
from notifier.web.slack_actions import add_slack_actions_route

log = logging.getLogger(__name__)

FIRST_RETRY = 1.0  # seconds before connecting again after a failure, doubling
MAX_RETRY = 60.0
# slack_sdk's own lines (a session opened, closed) are below the notifier's; its
# warnings and errors still show.
_SDK_LOG = logging.getLogger("notifier.slack_socket.sdk")
_SDK_LOG.setLevel(logging.WARNING)


class _Client(SocketModeClient):
    """slack_sdk's built-in client, but `disconnect` with reason `link_disabled` (the app's
    Socket Mode was switched off, or the token revoked) stops it instead of reconnecting
    at once and for ever."""

    def enqueue_message(self, message: str) -> None:
        if '"link_disabled"' in message and _is_link_disabled(message):
            log.error(
                "Slack disabled this app's Socket Mode link (link_disabled): clicks on "
                "alerts are not received until Socket Mode is on again and the notifier "
                "restarts"
            )
            self.default_auto_reconnect_enabled = False
            self.auto_reconnect_enabled = False
            return
        super().enqueue_message(message)


def _is_link_disabled(message: str) -> bool:
    try:
        data = json.loads(message)
    except ValueError:
        return False
    return (
        isinstance(data, dict)
        and data.get("type") == "disconnect"
        and (data.get("reason") == "link_disabled")
    )


class SlackSocket:
    """Socket Mode: `start()` connects in the background, `close()` disconnects."""

    def __init__(self, settings: Settings, clicks: SlackClicks, stop: threading.Event):
        if settings.slack_app_token is None:
            raise ValueError("Socket Mode needs SLACK_APP_TOKEN")
        self.clicks = clicks
        self.stop = stop
        self._closing = threading.Event()
        self.client = _Client(
            app_token=settings.slack_app_token.get_secret_value(),
            web_client=web_client(settings),
            logger=_SDK_LOG,
        )
        self.client.socket_mode_request_listeners.append(self._on_request)
        self._thread = threading.Thread(target=self._connect, name="slack-socket", daemon=True)
        self.acked = 0  # envelopes acknowledged (for tests and the log)

    def start(self) -> SlackSocket:
        self._thread.start()
        return self

    def _connect(self) -> None:
        wait = FIRST_RETRY
        while not self._closing.is_set():
            try:
                self.client.connect()
                log.info("Slack Socket Mode connected: clicks on alerts are handled")
                return
            except Exception as exc:  # noqa: BLE001 - the sdk raises many kinds
                log.warning(
                    "Slack Socket Mode: cannot connect (%s); trying again in %.0f s",
                    _what(exc),
                    wait,
                )
            if self._closing.wait(wait):
                return
            wait = min(MAX_RETRY, wait * 2)

    def _on_request(self, client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        # Acknowledge first: the work may take longer than Slack's 3 s.
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        self.acked += 1
        if request.type == "interactive":
            self.clicks.submit(request.payload)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=10)
        self.client.close()


def _what(exc: BaseException) -> str:
    """The Slack error code when there is one (`invalid_auth`), else the type: never a
    message that might quote a URL with its ticket."""
    response = getattr(exc, "response", None)
    data = getattr(response, "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])[:80]
    return type(exc).__name__


def wire_slack_actions(
    settings: Settings,
    actions: ActionsApi | None,
    server: HttpServer | None,
    stack: ExitStack,
    stop: threading.Event,
    clock: Callable[[], float] = time.time,
) -> SlackClicks | None:
    """The click handler and its ways in, as the settings ask (None: no way in, or no
    actions service to act through). Each is closed by `stack`: Socket Mode and the
    handler's threads before the server (the stack closes in reverse). `clock`: the
    app's, so a mute's end reads the same here as in the mute stage."""
    if not slack_buttons(settings):
        return None
    if actions is None:
        log.warning("SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set, but no actions service")
        return None
    web = SlackWeb(settings, stop=stop)
    clicks = SlackClicks(
        actions,
        web,
        admins=slack_admin_ids(settings),
        zone=ZoneInfo(settings.timezone),
        now=lambda: datetime.fromtimestamp(clock(), UTC),
    )
    stack.callback(clicks.close)
    if settings.slack_signing_secret is not None:
        if server is None:
            log.warning(
                "SLACK_SIGNING_SECRET is set but NOTIFIER_HTTP_ADDR is not: "
                "Slack's Request URL (POST /slack/actions) is not served"
            )
        else:
            add_slack_actions_route(
                server, settings.slack_signing_secret.get_secret_value(), clicks.submit
            )
    if settings.slack_app_token is not None:
        socket = SlackSocket(settings, clicks, stop).start()
        stack.callback(socket.close)
    return clicks


__all__ = ["SlackSocket", "wire_slack_actions"]
